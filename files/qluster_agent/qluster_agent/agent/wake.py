"""When the HA loop runs its next full cycle, and how long it waits for one meanwhile.

A full cycle reads the database and decides; between cycles the loop waits on the consensus
status (any change wakes it at once: a leader that lost its lease fences now) for at most a
glance, then glances at what may have changed (changed_at_a_glance) without deciding anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Optional

from ..pg.operation import LongOperation
from ..pg.status import DbRole, PgStatus
from ..raft.runtime import RuntimeStatus
from ..transport.discovery import PeerInfo
from .beacon import Beacon
from .views import AgentSnapshot

# Seconds between full HA cycles (read the database, decide) when nothing calls for one sooner.
# Sooner means: any change of the consensus status (the loop wakes at once), or a change seen at
# a glance (every third of node-timeout: agent/timing.py glance_interval): a long operation
# starting or ending, or the local database (PgController.changed_since: its process, its role,
# WAL position, streaming and standbys, one short statement). A failover, a crashed replica and
# a replica's moving WAL (what it votes with) are acted on within a glance; an idle node reads
# its database once a second. A leader does not glance (its database is read once a second).
HA_INTERVAL = 1.0
# The same while a switchover is under way, and for a while after a replica stopped streaming
# (a switchover's target announces the last WAL it received; or a failover is near).
QUICK_INTERVAL = 0.02
QUICK_AFTER_STREAMING = 2.0


class Wake:
    """The HA loop's pace: `cycle_now` before a cycle, `saw` within it, `timeout` and `woke`
    around the wait. Only the HA loop calls these; `leader_hello` is the receiving thread's."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.last_status: RuntimeStatus | None = None  # as the last wait returned it
        self._due = 0.0  # when the next full cycle is due if nothing calls for one sooner
        self._quick_until = 0.0
        self._leader_heard: tuple[int, DbRole, Optional[str], Optional[int]] | None = None

    def quick(self, switching: bool) -> bool:
        return switching or self._clock() < self._quick_until

    def cycle_now(self, switching: bool, changed: Callable[[], bool]) -> bool:
        """Whether a full cycle runs now; `changed` (a glance, one statement on the database) is
        asked only when nothing else calls for one."""
        if self.quick(switching) or self._clock() >= self._due or changed():
            self._due = self._clock() + HA_INTERVAL
            return True
        return False

    def saw(self, before: PgStatus | None, pg: PgStatus | None, leader_beacon: Beacon | None, now: float) -> None:
        """What a full cycle read: a replica that stopped streaming, or a leader handing over
        (the target must announce the leader's last WAL as soon as it has it, and the others
        follow the new leader as soon as it leads: both are on the write gap), keeps the loop
        quick for QUICK_AFTER_STREAMING."""
        if before is not None and before.streaming and pg is not None and not pg.streaming:
            self._quick_until = now + QUICK_AFTER_STREAMING
        if leader_beacon is not None and leader_beacon.switchover_to is not None:
            self._quick_until = max(self._quick_until, now + QUICK_AFTER_STREAMING)

    def timeout(self, switching: bool, operation_running: bool, glance: float) -> float:
        """How long to wait for a change of the consensus status before looking again.

        A leader does not glance while no long operation runs: what a glance would see first
        (its database's process, role or WAL moving) decides nothing of a leader's sooner than
        its next full cycle. Its bootstrap ending does: the others wait for it.
        """
        status = self.last_status
        leads = status is not None and status.is_leader and not operation_running
        glance = HA_INTERVAL if leads else glance
        return QUICK_INTERVAL if self.quick(switching) else min(glance, max(0.0, self._due - self._clock()))

    def woke(self, status: RuntimeStatus | None) -> None:
        """The wait ended: with a new consensus status (a full cycle now), or None (timed out)."""
        if status is not None:
            self.last_status, self._due = status, 0.0

    def leader_hello(self, node_id: int, leader: int | None, info: bytes) -> bool:
        """Whether a peer's new beacon is the leader's database changing role or long operation,
        or the leader announcing a switchover, which the HA loop acts on now rather than at its
        next glance: a new replica clones as soon as the leader's database is created, and a
        pooler host's observer reads its hold at once (agent/pooler_hold.py)."""
        if node_id != leader:
            return False
        beacon = Beacon.decode(info)
        if beacon is None:
            return False
        heard = (node_id, beacon.db_role, beacon.operation, beacon.switchover_to)
        if heard == self._leader_heard:
            return False
        self._leader_heard = heard
        return True


def changed_at_a_glance(snap: AgentSnapshot | None, running: LongOperation | None,
                        peers: Callable[[], Mapping[int, PeerInfo]], now: float, fresh_for: float,
                        database_changed: Callable[[], bool]) -> bool:
    """Between full cycles: whether a long operation started or ended, the leader's database
    changed role, or the local database changed (`database_changed`, asked last) since the last
    full cycle read it."""
    if snap is None:
        return True
    if running is not snap.operation:
        return True
    if _leader_database_changed(snap, peers, now, fresh_for):
        return True
    try:
        return database_changed()
    except Exception:  # the full cycle reads the database again and says what failed
        return True


def _leader_database_changed(snap: AgentSnapshot, peers: Callable[[], Mapping[int, PeerInfo]], now: float,
                             fresh_for: float) -> bool:
    """The leader (not me) announced another database role, or another long operation, than the
    last full cycle saw: a new replica waits for the leader's database to run as the primary, and
    to be created, before it clones; a replica follows a new leader once its database is promoted."""
    leader = snap.raft.leader
    if leader in (0, snap.my_id):
        return False
    peer = peers().get(leader)
    if peer is None or now - peer.last_seen > fresh_for:
        return False  # not fresh: the full cycle leaves it out of the view as well
    beacon = Beacon.decode(peer.info)
    if beacon is None:
        return False
    before = snap.beacons.get(leader)
    return before is None or (before.db_role, before.operation) != (beacon.db_role, beacon.operation)
