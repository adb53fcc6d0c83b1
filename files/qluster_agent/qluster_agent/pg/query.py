"""Reading the running server's state (psycopg2): the HA loop's kept session, and short
connections for the rare actions (promote, reload, checkpoint, a vote's position read).

psycopg2 rather than psql: typed rows instead of parsing text, no process per read, and
connect/statement timeouts that bound how long a hung server can stall the HA loop. It is a
distribution package (python3-psycopg2), so air-gapped nodes have it.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg2
import psycopg2.extensions

from .lsn import parse_lsn, parse_optional_lsn
from .status import ArchiverStats, ReplicationRow


# The agent's own sessions with its server (never ended by end_idle_sessions).
AGENT_APPLICATION_NAME = "qluster-agent"
# The applications' sessions: client backends other than the agent's and the asking one.
_APPLICATION_SESSIONS = ("FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
                         f"AND application_name IS DISTINCT FROM '{AGENT_APPLICATION_NAME}'")


@dataclass(frozen=True)
class LocalConnection:
    """How the agent reaches its own server: the Unix socket, as the superuser."""

    socket_dir: str
    port: int
    user: str
    database: str
    connect_timeout_s: int = 3
    statement_timeout_ms: int = 3000

    def _parameters(self) -> dict:
        return {"host": self.socket_dir, "port": self.port, "user": self.user, "dbname": self.database,
                "application_name": AGENT_APPLICATION_NAME, "options": f"-c statement_timeout={self.statement_timeout_ms}"}

    def connect(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(connect_timeout=self.connect_timeout_s, **self._parameters())
        conn.autocommit = True
        return conn

    def connect_async(self) -> psycopg2.extensions.connection:
        """The same connection in psycopg2's asynchronous mode (always autocommit), which the
        caller drives with `wait`: nothing then blocks longer than its deadline."""
        return psycopg2.connect(async_=True, **self._parameters())


T = TypeVar("T")
# A kept session is replaced after this long: a server that no longer takes new connections
# (clients need those) is then noticed within this time, as it was at once when every read connected.
SESSION_MAX_AGE_S = 60.0
# Beyond the server's statement_timeout, how long a statement may take before the client gives
# up on it: a server that is stopped (SIGSTOP, a frozen cgroup) cannot time its statements out.
CLIENT_GRACE_S = 1.0


class NoAnswer(psycopg2.OperationalError):
    """The server did not answer within the client's bound (the session is closed)."""


class StatusSession:
    """The HA loop's one session with its own server, kept open between reads.

    Opening a session forks a backend (a few milliseconds of the server's CPU); the HA loop reads
    several times a second, so the session is kept, as Patroni keeps its. It belongs to one
    postmaster: when the caller names another one (a restart), or the session is older than
    SESSION_MAX_AGE_S, a new one is opened. A kept session that turns out broken (the server
    restarted or ended it) is replaced once, at once, so the read answers as a new connection
    would have: a server that now answers is read, one that does not reads as not answering.
    Every step is bounded on the client's side too: connecting by the connect timeout, each
    statement by the statement timeout plus CLIENT_GRACE_S; a bound that passes closes the
    session and raises NoAnswer (a psycopg2.OperationalError). Use from one thread only.
    """

    def __init__(self, connection: LocalConnection, clock: Callable[[], float] = time.monotonic,
                 max_age_s: float = SESSION_MAX_AGE_S) -> None:
        self._connection = connection
        self._clock = clock
        self._max_age_s = max_age_s
        self._conn: psycopg2.extensions.connection | None = None
        self._postmaster: int | None = None
        self._opened_at = 0.0
        self.opened = 0  # sessions opened so far (tests and benchmarks count them)

    @property
    def connection(self) -> LocalConnection:
        return self._connection

    def quiet(self, postmaster: int | None) -> bool:
        """Whether the kept session with `postmaster` is open and the server has sent nothing on
        it since the last answer, asked without a round trip (one poll of its socket). A server
        that shuts down, crashes or restarts its backends ends every session first, with a
        message or by closing the socket: either makes the socket readable."""
        conn = self._conn
        if conn is None or conn.closed or postmaster != self._postmaster:
            return False
        try:
            readable, _unused, _unused_too = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError, psycopg2.Error):
            return False
        return not readable

    def run(self, postmaster: int | None, read: Callable[[Any], T]) -> T:
        """read(cursor) over the session with the server whose postmaster is `postmaster`.
        The cursor's execute() returns once the statement's result is in."""
        conn = self._conn
        if conn is not None and (conn.closed or postmaster != self._postmaster
                                 or self._clock() - self._opened_at > self._max_age_s):
            self.close()
            conn = None
        if conn is not None:
            try:
                return self._read(conn, read)
            except NoAnswer:
                raise  # a server that does not answer is not asked again within this read
            except psycopg2.Error:
                if not conn.closed:
                    raise  # the server answered (an error, a statement timeout): that is the answer
                self.close()  # broken: the server restarted or ended the session; ask anew
        conn = self._open(postmaster)
        try:
            return self._read(conn, read)
        except psycopg2.Error:
            if conn.closed:
                self.close()
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg2.Error:
                pass

    def _open(self, postmaster: int | None) -> psycopg2.extensions.connection:
        conn = self._connection.connect_async()
        try:
            _wait(conn, self._clock, self._clock() + self._connection.connect_timeout_s, "connecting")
        except psycopg2.Error:
            conn.close()
            raise
        self._conn, self._postmaster, self._opened_at = conn, postmaster, self._clock()
        self.opened += 1
        return conn

    def _read(self, conn: psycopg2.extensions.connection, read: Callable[[Any], T]) -> T:
        bound = self._connection.statement_timeout_ms / 1000 + CLIENT_GRACE_S
        with conn.cursor() as cur:
            try:
                return read(_WaitingCursor(cur, lambda: _wait(conn, self._clock, self._clock() + bound,
                                                              "waiting for a statement")))
            except psycopg2.Error:
                raise
            except Exception:
                self.close()  # a half-read session is of no further use
                raise


class _WaitingCursor:
    """An asynchronous connection's cursor whose execute() waits for the result."""

    def __init__(self, cur: Any, wait: Callable[[], None]) -> None:
        self._cur = cur
        self._wait = wait

    def execute(self, sql: str, params: Any = None) -> None:
        self._cur.execute(sql, params)
        self._wait()

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list:
        return self._cur.fetchall()


def _wait(conn: psycopg2.extensions.connection, clock: Callable[[], float], deadline: float, what: str) -> None:
    """Drive an asynchronous connection until its current step is done, at most until `deadline`.
    Past it the connection is closed (a statement still running on a live server ends with it)."""
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        remaining = deadline - clock()
        if remaining <= 0:
            conn.close()
            raise NoAnswer(f"no answer from the server {what} within the time allowed")
        if state == psycopg2.extensions.POLL_READ:
            select.select([conn.fileno()], [], [], remaining)
        elif state == psycopg2.extensions.POLL_WRITE:
            select.select([], [conn.fileno()], [], remaining)
        else:
            conn.close()
            raise psycopg2.OperationalError(f"unexpected state {state} of the connection {what}")


@dataclass(frozen=True)
class ServerFacts:
    """What one status query returns; the controller merges it with what it saw on disk."""

    in_recovery: bool
    timeline: int | None
    current_lsn: int | None
    flush_lsn: int | None  # primary: pg_current_wal_flush_lsn()
    received_lsn: int | None
    replayed_lsn: int | None
    system_identifier: int
    streaming: bool
    primary_conninfo: str
    synchronous_standby_names: str
    replication: tuple[ReplicationRow, ...]
    archiver: ArchiverStats | None
    # A replica's wal_receiver_create_temp_slot (controller.follow turns it off for a while).
    temp_slot: bool = True
    # A setting changed in the configuration files and reloaded takes effect only at the next
    # restart (pg_settings.pending_restart of any row).
    pending_restart: bool = False


# Every fact of a full read in one statement: each statement is a round trip that costs the
# agent and the server more than the reading itself (seven of them were a third of an idle
# node's HA loop). pg_is_in_recovery() is read once, in a subquery (volatile, so not pulled up):
# the role and the columns read by role belong together even if a promote runs meanwhile, and
# CASE keeps the functions of the other role (which raise) from being called.
_FACTS_SQL = (
    "SELECT r, (SELECT system_identifier FROM pg_control_system()),"
    " current_setting('primary_conninfo'), current_setting('synchronous_standby_names'),"
    " current_setting('wal_receiver_create_temp_slot'),"
    " a.archived_count, a.failed_count, a.last_archived_wal, a.last_failed_wal,"
    " extract(epoch FROM a.last_archived_time)::float8, extract(epoch FROM a.last_failed_time)::float8,"
    " CASE WHEN r THEN pg_last_wal_receive_lsn()::text END,"
    " CASE WHEN r THEN pg_last_wal_replay_lsn()::text END,"
    " CASE WHEN r THEN (SELECT timeline_id FROM pg_control_checkpoint()) END,"
    " w.status, w.received_tli,"
    " CASE WHEN NOT r THEN pg_current_wal_lsn()::text END,"
    " CASE WHEN NOT r THEN pg_walfile_name(pg_current_wal_lsn()) END,"
    " CASE WHEN NOT r THEN pg_current_wal_flush_lsn()::text END,"
    " EXISTS (SELECT 1 FROM pg_settings WHERE pending_restart)"
    " FROM (SELECT pg_is_in_recovery() AS r) AS recovery"
    " LEFT JOIN pg_stat_archiver AS a ON true"
    " LEFT JOIN pg_stat_wal_receiver AS w ON recovery.r"
)


def read_facts(cur: Any) -> ServerFacts:
    """The facts through one cursor: one statement, and pg_stat_replication on a primary (about
    0.5 ms of the server's CPU, 0.3 of it pg_stat_replication), once per full HA cycle."""
    cur.execute(_FACTS_SQL)
    (in_recovery, system_identifier, primary_conninfo, sync_names, temp_slot, *archived,
     received, replayed, checkpoint_tli, receiver_status, receiver_tli, current, walfile, flushed,
     pending_restart) = cur.fetchone()
    common = {"system_identifier": int(system_identifier), "primary_conninfo": str(primary_conninfo),
              "synchronous_standby_names": str(sync_names), "archiver": _archiver(archived),
              "pending_restart": bool(pending_restart)}
    if in_recovery:
        return ServerFacts(
            in_recovery=True,
            # The receiver knows the newest timeline; the checkpoint's may lag behind it.
            timeline=receiver_tli or checkpoint_tli,
            current_lsn=None,
            flush_lsn=None,
            received_lsn=parse_optional_lsn(received),
            replayed_lsn=parse_optional_lsn(replayed),
            streaming=receiver_status == "streaming",
            replication=(),
            temp_slot=temp_slot == "on",
            **common,
        )
    # On a primary the checkpoint's timeline lags right after a promote; the current WAL
    # file name carries the timeline in its first eight hex digits.
    return ServerFacts(
        in_recovery=False,
        timeline=int(walfile[:8], 16),
        current_lsn=parse_optional_lsn(current),
        flush_lsn=parse_optional_lsn(flushed),
        received_lsn=None,
        replayed_lsn=None,
        streaming=False,
        replication=_replication(cur),
        **common,
    )


@dataclass(frozen=True)
class Glance:
    """What the HA loop looks at between its full reads, in one cheap statement (about 50 us of
    the server's CPU; pg_stat_replication alone would cost 300): whether a full read now would
    see another role, WAL position or streaming state."""

    in_recovery: bool
    position: int | None  # as PgStatus.wal_position: a primary's current LSN, a standby's furthest
    streaming: bool


def read_glance(cur: Any) -> Glance:
    # pg_is_in_recovery() once, in a subquery (volatile, so not pulled up): a promote between two
    # calls must not pair a standby's flag with a primary's position.
    cur.execute(
        "SELECT r, (CASE WHEN r THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())"
        " ELSE pg_current_wal_lsn() END)::text,"
        " coalesce((SELECT status = 'streaming' FROM pg_stat_wal_receiver), false)"
        " FROM (SELECT pg_is_in_recovery() AS r) AS recovery"
    )
    in_recovery, position, streaming = cur.fetchone()
    return Glance(in_recovery=bool(in_recovery), position=parse_optional_lsn(position), streaming=bool(streaming))


def _replication(cur: Any) -> tuple[ReplicationRow, ...]:
    cur.execute(
        "SELECT application_name, host(client_addr), state, sync_state,"
        " sent_lsn::text, write_lsn::text, flush_lsn::text, replay_lsn::text,"
        " extract(epoch FROM replay_lag)::float8"
        " FROM pg_stat_replication ORDER BY application_name"
    )
    return tuple(
        ReplicationRow(
            application_name=row[0],
            client_addr=row[1],
            state=row[2],
            sync_state=row[3],
            sent_lsn=parse_optional_lsn(row[4]),
            write_lsn=parse_optional_lsn(row[5]),
            flush_lsn=parse_optional_lsn(row[6]),
            replay_lsn=parse_optional_lsn(row[7]),
            replay_lag_s=None if row[8] is None else float(row[8]),
        )
        for row in cur.fetchall()
    )


def _archiver(row: list) -> ArchiverStats | None:
    """pg_stat_archiver's columns of the facts row (all NULL if the view had no row)."""
    if row[0] is None:
        return None
    return ArchiverStats(
        archived_count=int(row[0]),
        failed_count=int(row[1]),
        last_archived_wal=row[2],
        last_failed_wal=row[3],
        last_archived_time=row[4],
        last_failed_time=row[5],
    )


def sessions_in_a_transaction(conn: psycopg2.extensions.connection) -> set[int]:
    """The pids of the applications' sessions that are in a transaction or running a statement."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT pid {_APPLICATION_SESSIONS} AND state IS DISTINCT FROM 'idle'")
        return {row[0] for row in cur.fetchall()}


def end_idle_sessions(conn: psycopg2.extensions.connection) -> int:
    """End the applications' sessions that are between two transactions; how many were ended."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(pg_terminate_backend(pid)) {_APPLICATION_SESSIONS} AND state = 'idle'")
        return cur.fetchone()[0]


def checkpoint(connection: LocalConnection) -> None:
    """Run CHECKPOINT without the status query's statement timeout (it may take a while)."""
    conn = connection.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = 0")
            cur.execute("CHECKPOINT")
    finally:
        conn.close()


def reload_and_promote(connection: LocalConnection, timeout_s: int) -> bool:
    """pg_reload_conf(), then pg_promote() waiting up to timeout_s; False when it timed out.

    One connection instead of two pg_ctl runs: on a loaded machine each process start costs
    tens of milliseconds of a failover's or switchover's write outage. Both are signals, as
    pg_ctl sends them, in the same order: the settings are loaded before the promotion ends.
    """
    conn = connection.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = 0")
            cur.execute("SELECT pg_reload_conf()")
            cur.execute("SELECT pg_promote(true, %s)", (timeout_s,))
            return bool(cur.fetchone()[0])
    finally:
        conn.close()


def wal_held(connection: LocalConnection) -> int:
    """How far this server's WAL goes right now: a standby's received (flushed) or replayed
    position, whichever is further; a primary's flushed position. One short query."""
    conn = connection.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT CASE WHEN pg_is_in_recovery()"
                " THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())"
                " ELSE pg_current_wal_flush_lsn() END::text"
            )
            value = cur.fetchone()[0]
    finally:
        conn.close()
    if value is None:
        raise psycopg2.DataError("the server reports no WAL position")
    return parse_lsn(value)


def reload(connection: LocalConnection) -> None:
    """pg_reload_conf() over the local connection: the same SIGHUP as pg_ctl reload, without
    starting a process (tens of milliseconds on a loaded machine, on a failover's path)."""
    conn = connection.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_reload_conf()")
    finally:
        conn.close()
