"""Looking at the data directory from outside the server (works while it is down)."""

from __future__ import annotations

import os
from pathlib import Path

from .status import DataDirState


def datadir_state(datadir: Path) -> DataDirState:
    if not datadir.exists():
        return DataDirState.EMPTY
    # lost+found on a dedicated partition is not data (seed 000 §5 removes it by hand).
    entries = [e for e in datadir.iterdir() if e.name != "lost+found"]
    if not entries:
        return DataDirState.EMPTY
    if rewind_marker(datadir).exists():
        return DataDirState.INVALID  # a pg_rewind that did not finish: only a fresh copy is safe
    if (datadir / "PG_VERSION").is_file() and (datadir / "global" / "pg_control").is_file():
        return DataDirState.VALID
    return DataDirState.INVALID


def rewind_marker(datadir: Path) -> Path:
    """Present while pg_rewind runs, and after it failed: it may have copied and deleted files
    before failing (the last step fetches the source's pg_control again), leaving a mixture no
    server should start on. Beside the data directory, since pg_rewind deletes files in it that
    the source lacks."""
    return datadir.parent / f".{datadir.name}.rewind-unfinished"


def forget_unfinished_rewind(datadir: Path) -> None:
    """The data directory is being emptied or filled afresh: the marker no longer applies."""
    rewind_marker(datadir).unlink(missing_ok=True)


def postmaster_pid(datadir: Path) -> int | None:
    """The pid in postmaster.pid when that process is alive and is a server of this data
    directory, else None.

    A stale pid file (after a crash, kill -9, a reboot or a container restart) names a dead or
    recycled pid. After a restart pids count up from 1 again, so the recycled one can be any
    process, even a thread of the agent itself (a thread id answers kill(0) like a process): the
    lab saw a restarted agent take its own thread for the server and wait for it forever. A
    postmaster works in its data directory (it changes into it at start), so a live pid that is a
    thread or works elsewhere is not ours. Another user's process is not ours either: the agent
    runs as the data directory's owner, as the server must (PostgreSQL's own lock-file check
    treats such a pid as stale too).
    """
    try:
        first_line = (datadir / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first_line.strip())
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return None
    if not _is_server_of(pid, datadir):
        return None  # exited but not reaped yet, a thread, or a recycled pid working elsewhere
    return pid


def remove_stale_pid_file(datadir: Path) -> bool:
    """Delete postmaster.pid when it names no server of this data directory (see
    postmaster_pid). The server refuses to start while the pid it names is alive, whatever that
    process is. True when a file was removed."""
    pid_file = datadir / "postmaster.pid"
    if not pid_file.exists() or postmaster_pid(datadir) is not None:
        return False
    pid_file.unlink(missing_ok=True)
    return True


def _is_server_of(pid: int, datadir: Path) -> bool:
    """The live process (not a zombie, not a thread of another) works in datadir. One read of
    /proc/<pid>/status gives both its state and its thread group: this runs every HA cycle."""
    proc = Path(f"/proc/{pid}")
    try:
        status = (proc / "status").read_text()
    except FileNotFoundError:
        return False  # exited meanwhile
    except OSError:
        return True  # no /proc (not Linux): trust kill(0)
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if fields.get("State", "").strip().startswith(("Z", "X")):
        return False  # exited (crash, kill -9) but not reaped yet
    if fields.get("Tgid", "").strip() != str(pid):
        return False  # a thread: its id answers kill(0), but it is part of another process
    try:
        return os.readlink(proc / "cwd") == os.path.realpath(datadir)
    except OSError:
        return False  # exited meanwhile, or not ours to look at
