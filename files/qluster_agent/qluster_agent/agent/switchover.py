"""When a leader asked for a switchover may take each of its two steps (pure).

1. Demote: only once the target streams from this primary and has flushed nearly all of its WAL
   (read from the primary's own pg_stat_replication, fresh every cycle). The clean shutdown then
   sends the rest to the connected standbys before it ends, so it ends quickly.
2. Hand over: only once the target's announced position shows it received everything up to and
   including the shutdown checkpoint, and no other voter announces more. The votes compare the
   same numbers, so the target then wins the election its TimeoutNow starts, instead of losing it
   to a voter that is ahead and leaving the cluster to a timed-out election (and another leader).

Each check returns None when the step may go ahead, else one sentence saying what it waits for.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..pg.conninfo import application_name_for
from ..pg.status import PgStatus, ReplicationRow
from .beacon import Beacon

# Bytes of flushed WAL the target may still miss when the leader starts its clean shutdown.
MAX_DEMOTE_LAG = 1 << 20


def why_not_a_target(target: int, pg: PgStatus | None, beacon: Beacon | None) -> str | None:
    """None when the leader may accept a switchover to `target`, else why not.

    The target must be a streaming replica. The leader's own pg_stat_replication is the first
    witness: a replica whose agent is briefly slow (a busy host, a status read that timed out)
    may announce nothing, or "not streaming", for a moment while its WAL receiver streams on.
    Its announcement is the second (a replica streaming through a cascade, or this leader's
    status read being the one that failed).
    """
    if pg is not None and is_streaming(replication_row(pg, target)):
        return None
    if beacon is not None and beacon.db_role == "replica" and beacon.streaming:
        return None
    if beacon is None:
        heard = "announced nothing recently"
    elif beacon.db_role != "replica":
        heard = f"announces its database as {beacon.db_role}"
    else:
        heard = "announces that it does not stream"
    return f"node {target} is not a streaming replica: it does not stream from my database and {heard}"


def replication_row(pg: PgStatus, target: int) -> ReplicationRow | None:
    """The target's row of the primary's pg_stat_replication, if it is connected."""
    name = application_name_for(target)
    return next((r for r in pg.replication if r.application_name == name), None)


def is_streaming(row: ReplicationRow | None) -> bool:
    return row is not None and row.state == "streaming" and row.flush_lsn is not None


def wait_before_demote(pg: PgStatus, target: int) -> str | None:
    row = replication_row(pg, target)
    if not is_streaming(row):
        state = "not connected" if row is None else row.state
        return f"node {target} does not stream from my database yet ({state})"
    flushed = pg.flush_lsn if pg.flush_lsn is not None else pg.current_lsn
    lag = 0 if flushed is None else flushed - row.flush_lsn
    if lag > MAX_DEMOTE_LAG:
        return f"node {target} is {lag} bytes behind my flushed WAL"
    return None


def wait_before_handover(target: int, my_id: int, my_position: int, beacons: Mapping[int, Beacon],
                         voters: frozenset[int]) -> str | None:
    """`my_position` is my vote context after my clean shutdown: its checkpoint's start.

    The target must be past it (the checkpoint record is the last one I wrote) and level with
    every other voter that announces its position.
    """
    beacon = beacons.get(target)
    if beacon is None:
        return f"no recent announcement from node {target}"
    if beacon.vote_context <= my_position:
        return (f"node {target} announces WAL up to {describe_position(beacon.vote_context)}, "
                f"my shutdown checkpoint is at {describe_position(my_position)}")
    for node_id in sorted(voters):
        other = beacons.get(node_id)
        if node_id in (target, my_id) or other is None:
            continue
        if other.vote_context > beacon.vote_context:
            return (f"node {node_id} announces more WAL ({describe_position(other.vote_context)}) "
                    f"than node {target} ({describe_position(beacon.vote_context)})")
    return None


def describe_position(context: int) -> str:
    """A vote context as 'timeline/LSN' for the log: '5/6000000'."""
    return f"{context >> 48}/{context & ((1 << 48) - 1):X}"
