"""The facade the HA loop calls: one method per thing it can ask of the local database.

Each method does one whole step and raises PgError (one readable line) when it cannot; the
long ones (bootstrap, clone_from, reclone_from, rewind_from, rewind_or_reclone) take a
CancelToken and are meant to run in the LongOperationExecutor. The constructor does no I/O.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

import psycopg2

from .basebackup import Cloner
from .bootstrap import Bootstrapper
from .cancel import CancelToken
from .commands import StopMode
from .config_files import ConfigFiles
from .conninfo import Endpoint, primary_conninfo
from .controldata import ControlData, ControlState
from .datadir import datadir_state, forget_unfinished_rewind, rewind_marker
from .errors import PgError
from .files import FileWriter, remove_contents
from .leader_probe import LeaderIdentity, identify_leader
from .options import PgOptions
from .process import CommandRunner
from .query import (StatusSession, checkpoint, end_idle_sessions, reload, reload_and_promote, sessions_in_a_transaction,
                    wal_held)
from .rewind import Rewinder
from .server import ServerControl
from .settings import STANDBY_SIGNAL, ManagedSettings, ServerRole
from .stall import StallTracker
from .status import DataDirState, DbRole, PgStatus, WalMark
from .status_reader import StatusReader
from .timeline import ReplicaTimeline
from .sync import ASYNCHRONOUS, SyncStandbys

log = logging.getLogger(__name__)


class PgController:
    def __init__(
        self,
        options: PgOptions,
        clock: Callable[[], float] = time.monotonic,
        identify: Callable[[Endpoint], LeaderIdentity] | None = None,
    ) -> None:
        self._o = options
        self._clock = clock
        self._identify = identify or (lambda leader: identify_leader(leader, options.replication_user, options.passfile))
        self._stall = StallTracker()
        self._timeline = ReplicaTimeline()
        runner = CommandRunner(options.run_as)
        writer = FileWriter(options.run_as)
        self._writer = writer
        self._config = ConfigFiles(options.flavour, options.datadir, writer, options.template_dir)
        self._server = ServerControl(options, runner)
        self._status = StatusReader(options, self._server)
        self._bootstrapper = Bootstrapper(options, runner, writer, self._config, self._server)
        self._cloner = Cloner(options, runner, writer)
        self._rewinder = Rewinder(options, runner)
        self._start_failures = 0
        self._unavailable_since: float | None = None
        # pg_control as the shutdown checkpoint of a demote left it, while the postmaster is
        # still finishing (archiving its last segment, its walsenders sending the last WAL).
        self._shut_down: ControlData | None = None
        # The last settings we wrote, so a sync-standby change keeps everything else as it was.
        self._managed: ManagedSettings | None = None

    @property
    def options(self) -> PgOptions:
        return self._o

    # --- reading -------------------------------------------------------------------------

    def status(self, wal_end: bool = True) -> PgStatus:
        """One snapshot of the local database; `stalled_since` is on the controller's clock, and a
        replica's timeline never goes back while the server runs (pg/timeline.py). wal_end=False
        skips reading a stopped server's WAL (pointless while a clone or rewind rewrites it)."""
        status = self._status.read(self._start_failures, wal_end, shutting_down=self._shut_down is not None)
        replica = status.role is DbRole.REPLICA and status.upstream is not None
        since = self._stall.observe(replica, status.streaming, status.replayed_lsn, self._clock())
        if since is not None:
            status = replace(status, stalled_since=since)
        if status.role is DbRole.REPLICA:
            timeline = self._timeline.observe(status.timeline)
            if timeline != status.timeline:
                status = replace(status, timeline=timeline)
        elif status.role in (DbRole.PRIMARY, DbRole.STOPPED):
            self._timeline.reset()
        if status.running and self._shut_down is not None and status.role is DbRole.UNAVAILABLE:
            control = self._shut_down
            status = replace(status, control_state=control.state, timeline=control.timeline,
                             checkpoint_lsn=control.checkpoint_lsn, system_identifier=control.system_identifier)
        elif not status.running:
            self._shut_down = None
        return self._with_unavailable_since(status)

    @property
    def status_session(self) -> StatusSession:
        """The HA loop's kept session with this server (status() and changed_since() use it)."""
        return self._status.session

    def changed_since(self, last: PgStatus) -> bool:
        """Whether status() now would differ from `last` in what the HA loop watches between its
        full cycles (StatusReader.changed_since: at most one short statement)."""
        return self._status.changed_since(last)

    def _with_unavailable_since(self, status: PgStatus) -> PgStatus:
        """Since when a running server has not answered (not counting a demote's shutdown), so a
        leader whose database never comes up can hand over instead of waiting for ever."""
        if status.role is not DbRole.UNAVAILABLE or self._shut_down is not None:
            self._unavailable_since = None
            return status
        if self._unavailable_since is None:
            self._unavailable_since = self._clock()
        return replace(status, unavailable_since=self._unavailable_since)

    def wal_held_now(self) -> int | None:
        """The running server's WAL position read now, or None when it does not answer. Safe to
        call from another thread (its own connection, no controller state)."""
        if not self._server.running:
            return None
        try:
            return wal_held(self._status.connection)
        except psycopg2.Error:
            return None

    def position_of(self, database: Endpoint) -> WalMark | None:
        """How far another node's database has its WAL (timeline, flushed LSN), asked directly
        over a replication connection; None when it does not answer."""
        try:
            identity = self._identify(database)
        except PgError as exc:
            log.info("reading how far another node's WAL goes: %s", exc)
            return None
        return WalMark(identity.timeline, identity.wal_position)

    def wal_receiver_running(self) -> bool:
        """The server has a walreceiver now (reads /proc; safe from another thread)."""
        return self._server.wal_receiver_running()

    # --- long operations (run in the executor) -------------------------------------------

    def bootstrap(self, sync: SyncStandbys = ASYNCHRONOUS, cancel: CancelToken | None = None) -> None:
        """initdb into the empty data directory and start as the primary (first leader only)."""
        self._bootstrapper.bootstrap(sync, cancel)
        self._managed = self._o.managed_settings(ServerRole.PRIMARY, synchronous_standby_names=sync.render())
        self._start_failures = 0

    def clone_from(self, leader: Endpoint, cancel: CancelToken | None = None) -> None:
        """pg_basebackup from the leader into the EMPTY data directory, then start streaming."""
        self._cloner.clone(leader, cancel)
        self.start_as_replica(leader, cancel, templates=True)

    def reclone_from(self, leader: Endpoint, cancel: CancelToken | None = None, same_system: bool = True) -> None:
        """Throw the local data away and clone again (PGDATA lost, rewind impossible).

        Only once the leader's database has answered, and (unless `same_system` is False: an
        operator's explicit reinit) only when it is the same database system as ours: the
        local copy may be the best one left, and a wipe cannot be undone.
        """
        self.check_leader_can_replace_data(leader, same_system)
        self.wipe()
        self.clone_from(leader, cancel)

    def check_leader_can_replace_data(self, leader: Endpoint, same_system: bool = True) -> None:
        """PgError (and nothing touched) when the leader's database cannot stand in for ours."""
        theirs = self._identify(leader)
        if not same_system or datadir_state(self._o.datadir) is not DataDirState.VALID:
            return
        ours = self._server.controldata()
        if ours is not None and ours.system_identifier != theirs.system_identifier:
            raise PgError(
                f"refusing to replace my database (system {ours.system_identifier}) with the leader's at "
                f"{leader.describe()} (system {theirs.system_identifier}): they are different databases; "
                "keeping my data (reinitialise this member explicitly to replace it)"
            )

    def rewind_from(self, leader: Endpoint, cancel: CancelToken | None = None) -> bool:
        """pg_rewind onto the leader's timeline and start as its replica.

        False (never an exception for an ordinary failure) tells the caller to fall back to
        wipe + base backup.
        """
        if self._server.running:
            self._stop_quickly()
        marker = rewind_marker(self._o.datadir)
        try:
            self._writer.write_text(marker, f"pg_rewind from {leader.describe()}\n")
        except OSError as exc:
            log.warning("cannot write %s, so not rewinding (a failed rewind must be recognisable): %s", marker, exc)
            return False
        result = self._rewinder.rewind(leader, cancel)
        if not result.ok:
            # The marker stays: the data directory now reads as not usable and is re-cloned.
            log.warning("pg_rewind from %s failed: %s", leader.describe(), result.describe_failure())
            return False
        forget_unfinished_rewind(self._o.datadir)
        try:
            self.start_as_replica(leader, cancel, templates=True)
        except PgError as exc:
            log.warning("rewound database did not start: %s", exc)
            return False
        return True

    def rewind_or_reclone(self, leader: Endpoint, cancel: CancelToken | None = None) -> None:
        # Asked before the server is stopped for the rewind: a leader that cannot answer is no
        # reason to take this replica down, let alone to wipe it.
        self.check_leader_can_replace_data(leader)
        if not self.rewind_from(leader, cancel):
            self.reclone_from(leader, cancel)

    # --- quick operations ------------------------------------------------------------------

    def start_as_replica(
        self, leader: Endpoint | None, cancel: CancelToken | None = None, templates: bool = False
    ) -> None:
        """Configure as a standby of `leader` (None: replay from the archive only) and start."""
        self._write(self._replica_settings(leader), templates=templates)
        self._start(cancel)

    def follow(self, leader: Endpoint) -> None:
        """Point a running replica at a new leader; primary_conninfo reloads without restart.

        Without a temporary slot for now: a new leader has just promoted, and PostgreSQL 15's
        walreceiver, reaching the end of the old timeline on it, creates its temporary slot
        again under the same name, fails ("already exists") and is restarted, 50-100 ms during
        which, with quorum commit, the new leader's first commit may be waiting for this
        replica. restore_temp_slot() turns it back on once another replica streams.
        """
        settings = replace(self._replica_settings(leader), wal_receiver_create_temp_slot=False)
        self._write(settings)
        self._stall.reset()
        self._reload_over_sql()

    def restore_temp_slot(self, leader: Endpoint) -> None:
        """Turn the temporary slot that follow() left off back on (the walreceiver restarts)."""
        self._write(self._replica_settings(leader))
        self._reload_over_sql()

    def promote(self, sync: SyncStandbys = ASYNCHRONOUS) -> None:
        """Make this replica the writable primary.

        The synchronous standbys are written and loaded before the promote, so the first
        commit on the new timeline already waits for them: no window of asynchronous commits.
        """
        settings = self._o.managed_settings(ServerRole.PRIMARY, synchronous_standby_names=sync.render())
        self._config.ensure_include()
        self._config.write_managed(settings)
        self._managed = settings
        try:
            promoted = reload_and_promote(self._status.connection, self._o.start_timeout_s)
        except psycopg2.Error as exc:  # it does not answer queries: pg_ctl needs no connection
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.info("promote over SQL failed (%s); using pg_ctl", first_line)
            self._reload()
            result = self._server.promote()
            if not result.ok:
                raise PgError(f"promote failed: {result.describe_failure()}") from None
        else:
            if not promoted:
                raise PgError(f"promote failed: still in recovery after {self._o.start_timeout_s} s")
        # Writes are accepted from here on. The end-of-recovery checkpoint after a promote is
        # spread out, and until it completes pg_control still names the old timeline: pg_rewind
        # on the old primary would then read "no rewind required" and leave it unable to
        # follow. Checkpointing now closes that window.
        try:
            checkpoint(self._status.connection)
        except psycopg2.Error as exc:
            log.warning("checkpoint after promote failed (a rewind against this node may fail): %s", exc)

    def demote(self, leader: Endpoint | None = None, close_sessions_within: float = 0.0) -> None:
        """Stop accepting writes and leave the data directory configured as a standby.

        With `close_sessions_within` (a switchover's demote), the applications' sessions are
        first ended between two of their transactions for up to that many seconds
        (close_sessions_between_transactions), so the shutdown cuts as few transactions as it can.

        Stops with 'fast' (clean shutdown checkpoint), falling back to 'immediate' when that
        takes longer than fast_stop_timeout_s. Returns once pg_control records the shutdown
        checkpoint: every session has ended by then and none can start, so nothing more can
        commit, while the postmaster may still be archiving its last segment and its walsenders
        sending the last WAL (a switchover's target waits for that WAL, not for the archive).
        Until it exits, status() reports the server as not answering, at the checkpoint.

        The server is left stopping on purpose: its pg_control says 'shut down' (last ran as
        primary), the one durable fact that tells the next cycle to pg_rewind before following
        anyone. Starting it as a standby here would overwrite that with 'in archive recovery',
        and a standby whose WAL forked from the new leader's cannot stream from it anyway.
        """
        if close_sessions_within > 0 and self._server.running:
            self.close_sessions_between_transactions(close_sessions_within)
        self._shut_down = self._shut_down_cleanly()
        if datadir_state(self._o.datadir) is DataDirState.VALID:
            self._write(self._replica_settings(leader))

    def close_sessions_between_transactions(self, within: float) -> None:
        """End each application session once it is between two transactions, until every session
        that was in a transaction when this began has finished it, or `within` seconds passed.

        A session pooler in session mode (PgBouncer) then closes its client at a transaction's
        boundary: the application's next statement gets the error, instead of a transaction
        being cut half done by the fast shutdown. Sessions that begin a transaction meanwhile
        are not waited for (the shutdown would wait for ever under load); they end as before.
        Any failure here only costs the wait: the fast shutdown follows either way.
        """
        deadline = self._clock() + within
        try:
            conn = self._status.connection.connect()
        except psycopg2.Error as exc:
            log.warning("switchover: cannot end the sessions between transactions (%s); shutting down", str(exc).strip())
            return
        try:
            waiting = sessions_in_a_transaction(conn)
            ended = end_idle_sessions(conn)
            while waiting and self._clock() < deadline:
                time.sleep(0.01)
                ended += end_idle_sessions(conn)
                waiting &= sessions_in_a_transaction(conn)
            log.info("switchover: ended %d sessions between transactions; %d still in one %s", ended, len(waiting),
                     "after %.1f s, ended by the shutdown" % within if waiting else "")
        except psycopg2.Error as exc:
            log.warning("switchover: ending the sessions between transactions failed (%s); shutting down",
                        str(exc).strip())
        finally:
            conn.close()

    def _shut_down_cleanly(self) -> ControlData | None:
        """A fast shutdown, watched until its checkpoint is in pg_control; None once it has exited."""
        if not self._server.running:
            return None
        result = self._server.request_stop(StopMode.FAST)
        deadline = self._clock() + self._o.fast_stop_timeout_s
        while self._server.running:
            if result.ok:
                control = self._server.controldata()
                if control is not None and control.state is ControlState.SHUT_DOWN:
                    return control
            if not result.ok or self._clock() > deadline:
                why = result.describe_failure() if not result.ok else f"took longer than {self._o.fast_stop_timeout_s} s"
                log.warning("fast shutdown %s; stopping immediately", why)
                self.fence()
                return None
            time.sleep(0.01)  # pg_control is read directly: a poll costs no process
        return None

    def fence(self) -> None:
        """Stop writes as fast as possible: pg_ctl stop -m immediate.

        Chosen over default_transaction_read_only + terminating backends because any session
        can SET default_transaction_read_only = off again and new connections race the
        terminations; an immediate stop closes every connection at once, after which no commit
        can be acknowledged. The cost is crash recovery at the next start, which rewind
        handles anyway.
        """
        if not self._server.running:
            return
        result = self._server.stop(StopMode.IMMEDIATE, timeout_s=30)
        if result.ok or not self._server.running:
            return
        # pg_ctl needs postmaster.pid; with the data directory gone, signal the process itself.
        if not self._server.quit_orphan():
            raise PgError(f"could not fence the database: {result.describe_failure()}")

    def wipe(self) -> None:
        """Delete the data directory's contents (keeping the directory, its mode and owner)."""
        self.fence()
        if self._server.running:
            raise PgError("refusing to wipe the data directory of a running server")
        remove_contents(self._o.datadir)
        forget_unfinished_rewind(self._o.datadir)
        self._managed = None

    def set_synchronous_standbys(self, sync: SyncStandbys) -> None:
        """Change synchronous_standby_names on the primary and reload."""
        if (self._o.datadir / STANDBY_SIGNAL).exists():
            raise PgError("synchronous standbys are a primary's setting; this server is a standby")
        base = self._managed or self._o.managed_settings(ServerRole.PRIMARY)
        settings = replace(base, synchronous_standby_names=sync.render())
        if self._config.write_managed(settings):
            self._reload()
        self._managed = settings

    def restart(self, cancel: CancelToken | None = None) -> None:
        """POST /restart: a fast shutdown (within start-timeout, else the restart fails with the
        server still up), then a start with the configuration as it is, so a primary comes back
        a primary and a replica a replica."""
        self.stop(StopMode.FAST, timeout_s=self._o.start_timeout_s)
        self._start(cancel)

    def reload(self) -> None:
        """POST /reload: pg_reload_conf() (pg_ctl reload when the server does not answer queries)."""
        if not self._server.running:
            raise PgError("the database is not running; there is nothing to reload")
        self._reload_over_sql()

    def stop(self, mode: StopMode = StopMode.FAST, timeout_s: int = 60) -> None:
        if not self._server.running:
            return
        result = self._server.stop(mode, timeout_s)
        if not result.ok and self._server.running:
            raise PgError(f"could not stop the database: {result.describe_failure()}")

    # --- helpers ---------------------------------------------------------------------------

    def _replica_settings(self, leader: Endpoint | None) -> ManagedSettings:
        conninfo = (
            ""
            if leader is None
            else primary_conninfo(leader, self._o.replication_user, self._o.application_name, passfile=self._o.passfile)
        )
        return self._o.managed_settings(ServerRole.REPLICA, primary_conninfo=conninfo)

    def _write(self, settings: ManagedSettings, templates: bool = False) -> None:
        # Writing config files into an empty or broken directory would only make it look
        # like a database to the next cycle; there is nothing to configure.
        if datadir_state(self._o.datadir) is not DataDirState.VALID:
            raise PgError(f"{self._o.datadir} holds no database to configure")
        self._config.prepare(settings, templates=templates)
        self._managed = settings

    def _start(self, cancel: CancelToken | None) -> None:
        if self._server.running:
            return
        result = self._server.start(cancel)
        if result.ok or self._server.running:
            # pg_ctl gives up waiting after its timeout while a standby may still be replaying
            # towards consistency: a live postmaster counts as started.
            self._start_failures = 0
            return
        self._start_failures += 1
        raise PgError(f"the database did not start: {result.describe_failure()}")

    def _reload(self) -> None:
        if not self._server.running:
            return
        result = self._server.reload()
        if not result.ok:
            raise PgError(f"reload failed: {result.describe_failure()}")

    def _reload_over_sql(self) -> None:
        if not self._server.running:
            return
        try:
            reload(self._status.connection)
        except psycopg2.Error as exc:  # it does not answer queries: pg_ctl needs no connection
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.info("reload over SQL failed (%s); using pg_ctl", first_line)
            self._reload()

    def _stop_quickly(self) -> None:
        if not self._server.running:
            return
        result = self._server.stop(StopMode.FAST, timeout_s=self._o.fast_stop_timeout_s)
        if result.ok or not self._server.running:
            return
        log.warning("fast shutdown took longer than %d s; stopping immediately", self._o.fast_stop_timeout_s)
        self.fence()
