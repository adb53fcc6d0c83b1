"""Asking the leader's database who it is before anything local is thrown away.

A re-clone wipes the local data directory. Doing that while the leader's database is down (or
is a different database altogether, e.g. one a node initialised by mistake) turns a short outage
into data loss: the node's copy may be the best one left. So a wipe first opens a replication
connection to the leader -- the same kind pg_basebackup uses, so the same hba line allows it --
and runs IDENTIFY_SYSTEM.

The same question tells a switchover how far its target's WAL goes: on a standby,
IDENTIFY_SYSTEM answers with the WAL it has flushed (received or replayed) and its timeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2
import psycopg2.extras

from .conninfo import Endpoint
from .errors import PgError
from .lsn import parse_lsn


@dataclass(frozen=True)
class LeaderIdentity:
    system_identifier: int
    timeline: int
    # IDENTIFY_SYSTEM's xlogpos: a primary's flushed WAL, a standby's flushed or replayed WAL.
    wal_position: int = 0


def identify_leader(leader: Endpoint, user: str, passfile: str | None, timeout_s: int = 3) -> LeaderIdentity:
    """IDENTIFY_SYSTEM on the leader; PgError naming the leader when it cannot answer."""
    try:
        conn = psycopg2.connect(
            host=leader.host,
            port=leader.port,
            user=user,
            dbname="replication",
            passfile=passfile,
            connect_timeout=timeout_s,
            application_name="qluster-agent-probe",
            connection_factory=psycopg2.extras.PhysicalReplicationConnection,
        )
    except psycopg2.Error as exc:
        raise PgError(f"the database at {leader.describe()} does not answer: {_first_line(exc)}") from exc
    try:
        with conn.cursor() as cur:
            cur.execute("IDENTIFY_SYSTEM")
            row = cur.fetchone()
    except psycopg2.Error as exc:
        raise PgError(f"the database at {leader.describe()} did not identify itself: {_first_line(exc)}") from exc
    finally:
        conn.close()
    return LeaderIdentity(system_identifier=int(row[0]), timeline=int(row[1]), wal_position=parse_lsn(row[2]))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
