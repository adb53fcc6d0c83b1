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
    """The pid in postmaster.pid when that process is alive, else None.

    A stale pid file (after a crash or kill -9) names a dead or recycled pid; checking the pid
    is alive is what pg_ctl status does too.
    """
    try:
        first_line = (datadir / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first_line.strip())
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, owned by someone else
    if _is_zombie(pid):
        return None  # exited (crash, kill -9) but not reaped yet: not a running server
    return pid


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (not Linux): trust kill(0)
    return stat[stat.rfind(")") + 2 :].startswith(("Z", "X"))
