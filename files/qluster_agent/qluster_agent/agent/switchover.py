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

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from ..pg.conninfo import application_name_for
from ..pg.status import DbRole, PgStatus, ReplicationRow, WalMark
from .beacon import Beacon
from .pooler_hold import POOLER_HOLD_WAIT, waiting_for_poolers
from .vote_context import vote_context

log = logging.getLogger("qluster")

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
    if beacon is not None and beacon.db_role is DbRole.REPLICA and beacon.streaming:
        return None
    if beacon is None:
        heard = "announced nothing recently"
    elif beacon.db_role is not DbRole.REPLICA:
        heard = f"announces its database as {beacon.db_role.value}"
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


@dataclass(frozen=True)
class Handover:
    """Whether to transfer leadership now (`to`), else what the hand-over waits for (`reason`)."""

    to: int | None
    reason: str


class Switchover:
    """A switchover this leader was asked for: its target, its deadline, and which step it
    waits at (logged once per step: positions change every cycle under writes)."""

    def __init__(self, my_id: int) -> None:
        self._my_id = my_id
        self.target: int | None = None
        self._deadline = 0.0
        self._wait_logged: str | None = None
        self._ready_since: float | None = None  # when only the pooler hosts kept me from demoting

    def request(self, target: int, now: float, timeout: float) -> None:
        self._deadline = now + timeout
        self.target = target
        self._wait_logged = None
        self._ready_since = None

    def expire(self, is_leader: bool, leader: int, now: float) -> str | None:
        """Drop the switchover once another node leads or set-leader-timeout has passed;
        returns why it was dropped (None: still under way, or none asked for)."""
        target = self.target
        if target is None:
            return None
        if not is_leader:
            self.target = None
            return f"switchover: node {leader or 'none'} now leads (I am node {self._my_id})"
        if now > self._deadline:
            self.target = None
            return f"switchover to node {target} did not happen within set-leader-timeout; staying leader"
        return None

    def target_for_decide(self, pg: PgStatus | None, beacons: Mapping[int, Beacon], now: float) -> int | None:
        """The switchover target decide() may act on: while my database is still the primary,
        only once the target streams from it close behind (wait_before_demote) and the pooler
        hosts hold their transaction-pooled clients (agent/pooler_hold.py), or have been waited
        for POOLER_HOLD_WAIT."""
        target = self.target
        if target is None or pg is None or pg.role is not DbRole.PRIMARY:
            return target
        waiting = wait_before_demote(pg, target)
        if waiting is not None:
            self._log_wait("demote", f"switchover: waiting before demoting: {waiting}")
            return None
        poolers = waiting_for_poolers(target, beacons)
        if not poolers:
            return target
        if self._ready_since is None:
            self._ready_since = now
        if now - self._ready_since < POOLER_HOLD_WAIT:
            self._log_wait("poolers", f"switchover: waiting before demoting until the pooler hosts hold their "
                                      f"transaction-pooled clients: {', '.join(poolers)}")
            return None
        self._log_wait("poolers-late", f"switchover: demoting without a hold on {', '.join(poolers)} "
                                       f"after {POOLER_HOLD_WAIT:.0f} s; their transactions in flight may fail")
        return target

    def hand_over(self, pg: PgStatus | None, my_position: int, beacons: Mapping[int, Beacon],
                  voters: frozenset[int], read_position: Callable[[Beacon], WalMark | None]) -> Handover | None:
        """My database has shut down for a switchover (its checkpoint is in pg_control, though the
        postmaster may still be finishing): transfer leadership once the target would win.

        None when there is nothing to hand over (no switchover, or my database is still the
        primary or tells no position). `my_position` is my vote context; `read_position` asks
        a member's database for its position now (None when it does not answer).
        """
        target = self.target
        if target is None or pg is None or pg.role is DbRole.PRIMARY or pg.wal_mark is None:
            return None
        # The target must have received the shutdown checkpoint record, so compare with its start:
        # my own vote context moves on to the record's end once the stopped WAL is read.
        shut_down_at = my_position if pg.checkpoint_lsn is None else vote_context(
            WalMark(pg.wal_mark.timeline, pg.checkpoint_lsn))
        waiting = wait_before_handover(target, self._my_id, shut_down_at, beacons, voters)
        if waiting is not None:
            # The target announces its position once a cycle of its own; asking its database
            # saves that wait (and this loop's next), which sits on the switchover's write gap.
            fresher = _with_position_read_now(target, beacons, read_position)
            if fresher is not beacons:
                waiting = wait_before_handover(target, self._my_id, shut_down_at, fresher, voters)
        if waiting is None:
            return Handover(target, f"switchover: handing leadership over to node {target}")
        reason = f"switchover: my database has shut down; waiting to hand over: {waiting}"
        self._log_wait("handover", reason)
        return Handover(None, reason)

    def _log_wait(self, step: str, line: str) -> None:
        if step != self._wait_logged:
            self._wait_logged = step
            log.info("%s", line)


def _with_position_read_now(node_id: int, beacons: Mapping[int, Beacon],
                            read_position: Callable[[Beacon], WalMark | None]) -> Mapping[int, Beacon]:
    """The beacons with `node_id`'s position as its database tells it now, when that is
    further than it announced (the same beacons otherwise). A node that announces nothing
    recently is not asked: its agent may be gone, and the read would only wait."""
    beacon = beacons.get(node_id)
    if beacon is None or beacon.db_port is None:
        return beacons
    context = vote_context(read_position(beacon))
    if context <= beacon.vote_context:
        return beacons
    return {**beacons, node_id: replace(beacon, vote_context=context)}
