"""Command lines for the database programs, as pure functions returning argv lists."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from pathlib import Path

from .conninfo import Endpoint, render_conninfo
from .flavour import Toolset

# Options taken by initdb when the configuration gives none: UTF-8 and page checksums
# (seed 004's Patroni bootstrap uses exactly these; checksums also make pg_rewind possible).
DEFAULT_INITDB_OPTIONS: tuple[str, ...] = ("--encoding=UTF8", "--data-checksums")


class StopMode(enum.Enum):
    """pg_ctl shutdown modes the supervisor uses."""

    # Disconnects clients, rolls back open transactions, writes a shutdown checkpoint: the data
    # directory is clean afterwards (pg_rewind and a restart need no crash recovery).
    FAST = "fast"
    # SIGQUIT to every process, no checkpoint: the quickest way to stop writes (fencing).
    IMMEDIATE = "immediate"


def initdb_argv(
    tools: Toolset, datadir: Path, superuser: str, options: Sequence[str] = DEFAULT_INITDB_OPTIONS
) -> list[str]:
    return [tools.initdb, f"--pgdata={datadir}", f"--username={superuser}", *options]


def basebackup_argv(
    tools: Toolset,
    leader_host: str,
    port: int,
    user: str,
    datadir: Path,
    *,
    application_name: str | None = None,
    passfile: str | None = None,
    label: str = "qluster clone",
) -> list[str]:
    """pg_basebackup for a new replica (seed 003 does `-Fp -X stream`).

    --wal-method=stream carries the WAL written during the copy over a second connection, so the
    copy is consistent even if the leader recycles segments meanwhile. --checkpoint=fast: the
    default 'spread' waits for a whole checkpoint cycle (minutes) before copying starts.
    --no-password: the agent can never answer a prompt; authentication comes from hba or a
    passfile. No --write-recovery-conf: the agent writes its own standby settings afterwards.
    application_name: the copy's own (PgOptions.clone_application_name), never a name listed in
    synchronous_standby_names: its WAL stream reports flush positions, as a standby's does.
    passfile: postgres.passfile, as the walreceiver and the leader probe use it (libpq's
    default, ~/.pgpass of the user running the program, when None).
    """
    dbname = render_conninfo({"application_name": application_name, "passfile": passfile}) or None
    argv = [
        tools.basebackup,
        f"--pgdata={datadir}",
        f"--host={leader_host}",
        f"--port={port}",
        f"--username={user}",
        "--format=plain",
        "--wal-method=stream",
        "--checkpoint=fast",
        "--no-password",
        f"--label={label}",
    ]
    if dbname:
        argv.append(f"--dbname={dbname}")
    return argv


def rewind_argv(
    tools: Toolset,
    datadir: Path,
    source_conninfo: str,
    *,
    restore_target_wal: bool = False,
) -> list[str]:
    """pg_rewind the local (stopped) data directory onto the leader's history.

    --restore-target-wal fetches WAL the target no longer has in pg_wal through its
    restore_command (the shared archive), which a long-dead old primary often needs.
    """
    argv = [tools.rewind, f"--target-pgdata={datadir}", f"--source-server={source_conninfo}"]
    if restore_target_wal:
        argv.append("--restore-target-wal")
    return argv


def source_server_conninfo(leader: Endpoint, user: str, dbname: str, passfile: str | None = None) -> str:
    """pg_rewind's connection to the leader: an ordinary (not a replication) connection, as a
    superuser (pg_rewind reads files through pg_read_binary_file)."""
    return render_conninfo(
        {"host": leader.host, "port": leader.port, "user": user, "dbname": dbname, "passfile": passfile,
         "connect_timeout": 5}
    )


def pg_ctl_start_argv(tools: Toolset, datadir: Path, log_file: Path, timeout_s: int = 60, nice: int = 0) -> list[str]:
    """Start and wait until the server accepts connections (or recovery reaches consistency).

    -l sends the postmaster's own stderr to a file, so it does not inherit our pipes and
    pg_ctl returns as soon as the server is up. With `nice`, the postmaster and every backend
    it forks run that much nicer than the agent, in the lowest best-effort disk class: lowering
    one's own priority needs no privilege, and the agent's consensus keeps its timing however
    busy the database gets.
    """
    argv = [tools.ctl, "start", f"--pgdata={datadir}", f"--log={log_file}", "--wait", f"--timeout={timeout_s}"]
    if nice:
        argv = ["nice", "-n", str(nice), "ionice", "-c", "2", "-n", "7", *argv]
    return argv


def pg_ctl_stop_argv(tools: Toolset, datadir: Path, mode: StopMode, timeout_s: int = 60, wait: bool = True) -> list[str]:
    """Stop, waiting until the postmaster is gone (or, with wait=False, only signal it)."""
    if not wait:
        return [tools.ctl, "stop", f"--pgdata={datadir}", f"--mode={mode.value}", "--no-wait"]
    return [tools.ctl, "stop", f"--pgdata={datadir}", f"--mode={mode.value}", "--wait", f"--timeout={timeout_s}"]


def pg_ctl_promote_argv(tools: Toolset, datadir: Path, timeout_s: int = 60) -> list[str]:
    """Promote and wait until the server accepts writes."""
    return [tools.ctl, "promote", f"--pgdata={datadir}", "--wait", f"--timeout={timeout_s}"]


def pg_ctl_reload_argv(tools: Toolset, datadir: Path) -> list[str]:
    """SIGHUP through pg_ctl: works even when every connection slot is taken."""
    return [tools.ctl, "reload", f"--pgdata={datadir}"]


def controldata_argv(tools: Toolset, datadir: Path) -> list[str]:
    return [tools.controldata, str(datadir)]
