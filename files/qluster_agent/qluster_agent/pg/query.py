"""Reading the running server's state over one short connection (psycopg2).

psycopg2 rather than psql: typed rows instead of parsing text, no fork per cycle, and
connect/statement timeouts that bound how long a hung server can stall the HA loop. It is a
distribution package (python3-psycopg2), so air-gapped nodes have it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.extensions

from .lsn import parse_lsn, parse_optional_lsn
from .status import ArchiverStats, ReplicationRow


@dataclass(frozen=True)
class LocalConnection:
    """How the agent reaches its own server: the Unix socket, as the superuser."""

    socket_dir: str
    port: int
    user: str
    database: str
    connect_timeout_s: int = 3
    statement_timeout_ms: int = 3000

    def connect(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(
            host=self.socket_dir,
            port=self.port,
            user=self.user,
            dbname=self.database,
            connect_timeout=self.connect_timeout_s,
            application_name="qluster-agent",
            options=f"-c statement_timeout={self.statement_timeout_ms}",
        )
        conn.autocommit = True
        return conn


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


def query_server(conn: psycopg2.extensions.connection) -> ServerFacts:
    with conn.cursor() as cur:
        in_recovery = bool(_one(cur, "SELECT pg_is_in_recovery()"))
        system_identifier = int(_one(cur, "SELECT system_identifier FROM pg_control_system()"))
        primary_conninfo = str(_one(cur, "SHOW primary_conninfo"))
        sync_names = str(_one(cur, "SHOW synchronous_standby_names"))
        archiver = _archiver(cur)
        if in_recovery:
            cur.execute(
                "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
                " (SELECT timeline_id FROM pg_control_checkpoint()),"
                " current_setting('wal_receiver_create_temp_slot')"
            )
            received, replayed, checkpoint_tli, temp_slot = cur.fetchone()
            cur.execute("SELECT status, received_tli FROM pg_stat_wal_receiver")
            receiver = cur.fetchone()
            streaming = receiver is not None and receiver[0] == "streaming"
            # The receiver knows the newest timeline; the checkpoint's may lag behind it.
            timeline = receiver[1] if receiver is not None and receiver[1] else checkpoint_tli
            return ServerFacts(
                in_recovery=True,
                timeline=timeline,
                current_lsn=None,
                flush_lsn=None,
                received_lsn=parse_optional_lsn(received),
                replayed_lsn=parse_optional_lsn(replayed),
                system_identifier=system_identifier,
                streaming=streaming,
                primary_conninfo=primary_conninfo,
                synchronous_standby_names=sync_names,
                replication=(),
                archiver=archiver,
                temp_slot=temp_slot == "on",
            )
        # On a primary the checkpoint's timeline lags right after a promote; the current WAL
        # file name carries the timeline in its first eight hex digits.
        cur.execute("SELECT pg_current_wal_lsn()::text, pg_walfile_name(pg_current_wal_lsn()),"
                    " pg_current_wal_flush_lsn()::text")
        current, walfile, flushed = cur.fetchone()
        return ServerFacts(
            in_recovery=False,
            timeline=int(walfile[:8], 16),
            current_lsn=parse_optional_lsn(current),
            flush_lsn=parse_optional_lsn(flushed),
            received_lsn=None,
            replayed_lsn=None,
            system_identifier=system_identifier,
            streaming=False,
            primary_conninfo=primary_conninfo,
            synchronous_standby_names=sync_names,
            replication=_replication(cur),
            archiver=archiver,
        )


def _one(cur: Any, sql: str) -> Any:
    cur.execute(sql)
    return cur.fetchone()[0]


def _replication(cur: Any) -> tuple[ReplicationRow, ...]:
    cur.execute(
        "SELECT application_name, host(client_addr), state, sync_state,"
        " sent_lsn::text, write_lsn::text, flush_lsn::text, replay_lsn::text"
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
        )
        for row in cur.fetchall()
    )


def _archiver(cur: Any) -> ArchiverStats | None:
    cur.execute(
        "SELECT archived_count, failed_count, last_archived_wal, last_failed_wal,"
        " extract(epoch FROM last_archived_time)::float8, extract(epoch FROM last_failed_time)::float8"
        " FROM pg_stat_archiver"
    )
    row = cur.fetchone()
    if row is None:
        return None
    return ArchiverStats(
        archived_count=int(row[0]),
        failed_count=int(row[1]),
        last_archived_wal=row[2],
        last_failed_wal=row[3],
        last_archived_time=row[4],
        last_failed_time=row[5],
    )


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
