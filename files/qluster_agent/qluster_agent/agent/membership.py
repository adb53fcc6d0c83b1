"""The leader's membership planning (pure): who to take in next, and whether a removal is safe.

Nodes join by announcing themselves (hello beacons authenticated with the cluster secret); the
leader records a newcomer's metadata, then adds it to the consensus configuration, one change
at a time as Raft's single-server changes require. Members removed on purpose are not taken
back in automatically.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

from ..cluster.state import ClusterState, MemberInfo
from ..pg.status import DbRole, PgStatus
from ..raft.types import ConfChange, ConfChangeType, ConfState
from .beacon import Beacon


@dataclass(frozen=True)
class Step:
    """Either a metadata command or a configuration change to propose, and why."""

    reason: str
    command: bytes | None = None
    change: ConfChange | None = None


def info_from_beacon(node_id: int, beacon: Beacon) -> MemberInfo:
    return MemberInfo(node_id, beacon.name, beacon.address, beacon.api_port, beacon.db_port, beacon.observer)


def next_step(
    conf: ConfState, state: ClusterState, beacons: dict[int, Beacon], primary_system: int | None = None
) -> Step | None:
    """The next membership step for the leader, or None when everything is in place.

    `beacons` holds the fresh beacons (this node's own included); `primary_system` is the system
    identifier of the leader's own database when it runs as the primary. It is recorded once,
    so no leader ever runs initdb again (ClusterState.database_system).
    """
    if state.database_system is None and primary_system is not None:
        return Step(f"recording the cluster's database (system {primary_system})",
                    command=ClusterState.cmd_database(primary_system))
    for node_id in sorted(beacons):
        beacon = beacons[node_id]
        if node_id in state.removed:
            continue
        info = info_from_beacon(node_id, beacon)
        if state.members.get(node_id) != info:
            verb = "recording" if node_id not in state.members else "updating"
            return Step(f"{verb} the metadata of node {node_id} ({beacon.name})", command=ClusterState.cmd_member(info))
        if node_id not in conf.members:
            kind = ConfChangeType.ADD_OBSERVER if beacon.observer else ConfChangeType.ADD_VOTER
            what = "observer" if beacon.observer else "voter"
            return Step(f"adding node {node_id} ({beacon.name}) as a {what}", change=ConfChange(kind, node_id))
    return None


def removal_problem(conf: ConfState, leader_id: int, target: int, reachable: set[int]) -> str | None:
    """Why removing `target` now would hurt the cluster, or None when it is safe.

    Safe means: the target is a member, it is not the leader (hand leadership over first), and
    the voters that remain and are reachable still form a majority of the remaining voters.
    """
    if target not in conf.members:
        return f"node {target} is not a member"
    if target == leader_id:
        return f"node {target} is the leader; switch over to another node first"
    if target in conf.observers:
        return None
    remaining = conf.voters - {target}
    if not remaining:
        return "it is the last voter"
    alive = len(remaining & reachable)
    needed = len(remaining) // 2 + 1
    if alive < needed:
        return (f"after removing node {target}, only {alive} of the remaining {len(remaining)} voters "
                f"are reachable and {needed} are needed for quorum")
    return None


class Membership:
    """The leader's membership duty: one step proposed at a time, the next only once the
    proposal before it has been committed or has failed."""

    def __init__(self) -> None:
        self._pending: Future | None = None

    def next_step(self, conf: ConfState, state: ClusterState, beacons: dict[int, Beacon],
                  pg: PgStatus | None) -> Step | None:
        """The step to propose now (None: one is still pending, or nothing to do). `pg` is the
        leader's own database status: its system identifier is recorded while it runs as the primary."""
        if self._pending is not None and not self._pending.done():
            return None
        self._pending = None
        primary = pg is not None and pg.role is DbRole.PRIMARY
        return next_step(conf, state, beacons, pg.system_identifier if primary else None)

    def proposed(self, future: Future) -> None:
        """The step next_step returned has been proposed; `future` completes with its commit."""
        self._pending = future
