"""Reading one PgStatus: the disk, the process table, and (when up) the server over the HA
loop's kept session; and, between full reads, a glance at whether one would see anything new."""

from __future__ import annotations

from dataclasses import replace

import psycopg2

from .controldata import ControlState
from .conninfo import endpoint_of
from .datadir import datadir_state, postmaster_pid
from .options import PgOptions
from .query import LocalConnection, StatusSession, read_facts, read_glance
from .server import ServerControl
from .status import DataDirState, PgStatus
from .wal_end import WalEnd


class StatusReader:
    def __init__(self, options: PgOptions, server: ServerControl) -> None:
        self._o = options
        self._server = server
        self._connection = LocalConnection(options.socket_dir, options.port, options.superuser, options.dbname)
        self._session = StatusSession(self._connection)
        self._postmaster: int | None = None  # the postmaster the last full read found
        # A stopped server's WAL does not change: read its end once per stop. Every start
        # rewrites pg_control and most add files to pg_wal, so their times tell a new stop.
        self._wal_end_key: tuple | None = None
        self._wal_end: WalEnd | None = None

    @property
    def connection(self) -> LocalConnection:
        """For the rare actions, which open a connection of their own (the session is the HA
        loop's: one thread)."""
        return self._connection

    @property
    def session(self) -> StatusSession:
        return self._session

    def read(self, start_failures: int, wal_end: bool = True, shutting_down: bool = False) -> PgStatus:
        """Disk, process table, then the server; start_failures is the controller's count.
        `shutting_down`: a demote's shutdown is ending (its position is the shutdown checkpoint,
        which the controller knows; the WAL is not read from disk on a switchover's path)."""
        datadir = datadir_state(self._o.datadir)
        running = self._server.running
        self._postmaster = postmaster_pid(self._o.datadir) if running else None
        if not running:
            self._session.close()  # its server is gone; a new one gets a new session
            control = self._server.controldata() if datadir is DataDirState.VALID else None
            wal_end = self._stopped_wal_end(control) if control and wal_end else None
            timeline = control.timeline if control else None
            if wal_end is not None and timeline is not None:
                timeline = max(timeline, wal_end.timeline)
            return PgStatus(
                datadir=datadir,
                running=False,
                accepting=False,
                control_state=control.state if control else None,
                timeline=timeline,
                checkpoint_lsn=control.checkpoint_lsn if control else None,
                wal_end_lsn=wal_end.lsn if wal_end else None,
                system_identifier=control.system_identifier if control else None,
                start_failures=start_failures,
            )
        try:
            facts = self._session.run(self._postmaster, read_facts)
        except psycopg2.Error as exc:
            return self._not_answering(datadir, start_failures, _one_line(exc), wal_end and not shutting_down)
        self._wal_end_key = None
        return PgStatus(
            datadir=datadir,
            running=True,
            accepting=True,
            in_recovery=facts.in_recovery,
            timeline=facts.timeline,
            current_lsn=facts.current_lsn,
            flush_lsn=facts.flush_lsn,
            received_lsn=facts.received_lsn,
            replayed_lsn=facts.replayed_lsn,
            system_identifier=facts.system_identifier,
            streaming=facts.streaming,
            upstream=endpoint_of(facts.primary_conninfo) if facts.in_recovery else None,
            synchronous_standby_names=facts.synchronous_standby_names,
            replication=facts.replication,
            archiver=facts.archiver,
            start_failures=start_failures,
            temp_slot_deferred=facts.in_recovery and not facts.temp_slot,
            pending_restart=facts.pending_restart,
        )

    def changed_since(self, last: PgStatus) -> bool:
        """Whether a full read now would differ from `last` (the previous full read) in what the
        HA loop must act on at once: the data directory's state, whether a server runs and which
        postmaster, and, when `last` found it answering, whether it still answers, its role, WAL
        position and streaming (one cheap statement over the kept session). Not watched: the
        standbys a primary streams to, its settings and archiver (the next full read, within
        HA_INTERVAL, sees them), and a server that was not answering (the next full read finds
        it answering). A primary is asked only when its session is no longer quiet (the server
        ended it: shutting down, crashed): its role cannot change without a restart, and nothing
        the HA loop decides waits on its moving WAL position, so the statement, three or four a
        second, would be most of an idle leader's HA cost."""
        if datadir_state(self._o.datadir) is not last.datadir:
            return True
        postmaster = postmaster_pid(self._o.datadir)
        running = postmaster is not None or self._server.running
        if running != last.running:
            return True
        if not running or not last.accepting:
            return False
        if postmaster != self._postmaster:
            return True
        if last.in_recovery is False and self._session.quiet(postmaster):
            return False
        try:
            glance = self._session.run(postmaster, read_glance)
        except psycopg2.Error:
            return True  # not answering now
        return (glance.in_recovery != last.in_recovery or glance.position != last.wal_position
                or glance.streaming != last.streaming)

    def _not_answering(self, datadir: DataDirState, start_failures: int, error: str, wal_end: bool) -> PgStatus:
        """A running server that takes no query. Unless pg_control says it runs as a primary (in
        production: it may be committing for sessions we cannot see), a server with no
        walreceiver confirms no WAL to anyone: a standby still recovering (not yet consistent,
        so it takes no connection) or a server still starting. What its pg_wal holds is then its
        position, read from disk as for a stopped server (a vote needs it: vote_context.py)."""
        status = PgStatus(datadir=datadir, running=True, accepting=False, start_failures=start_failures, error=error)
        if not wal_end or datadir is not DataDirState.VALID:
            return status
        control = self._server.controldata()
        if control is None or control.state is ControlState.IN_PRODUCTION or self._server.wal_receiver_running():
            return status
        end = self._stopped_wal_end(control)
        if end is None:
            return status
        return replace(status, control_state=control.state, timeline=max(control.timeline, end.timeline),
                       checkpoint_lsn=control.checkpoint_lsn, wal_end_lsn=end.lsn,
                       system_identifier=control.system_identifier)

    def _stopped_wal_end(self, control) -> WalEnd | None:
        datadir = self._o.datadir
        key = (control.checkpoint_lsn, control.timeline, _changed_at(datadir / "pg_wal"),
               _changed_at(datadir / "global" / "pg_control"))
        if key != self._wal_end_key:
            end = self._server.wal_end(control)
            # Files of an older timeline only (never expected): the checkpoint is all we know.
            self._wal_end_key, self._wal_end = key, end if end and end.timeline >= control.timeline else None
        return self._wal_end


def _changed_at(path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
