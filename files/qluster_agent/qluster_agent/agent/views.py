"""Pure functions from the agent's snapshots to what others read: the HA loop's ClusterView,
the health endpoints' NodeHealth and the operator's cluster map (seed 000 §9.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..api.health import NodeHealth
from ..api.map_member import MapMember
from ..cluster.state import ClusterState
from ..ha.view import ClusterView, Member, MemberRole
from ..pg.lsn import format_lsn
from ..pg.operation import LongOperation
from ..pg.status import DbRole, PgStatus
from ..raft.runtime import RuntimeStatus
from .beacon import Beacon


@dataclass(frozen=True)
class AgentSnapshot:
    """Everything the agent knows at one instant; built by the HA loop once per cycle."""

    my_id: int
    raft: RuntimeStatus
    state: ClusterState
    beacons: dict[int, Beacon]  # fresh beacons, this node's own included
    last_seen: dict[int, float]  # seconds since each peer was last heard (0 for me)
    pg: PgStatus | None  # None on an observer
    add_node_marker: bool
    switchover_target: int | None
    operation: LongOperation | None
    operation_started_at: float | None
    agent_alive: bool = True
    retry_not_before: float | None = None  # after a failed long operation: no new one before
    last_failure: str | None = None

    @property
    def leader_id(self) -> int | None:
        return self.raft.leader or None

    @property
    def leader_beacon(self) -> Beacon | None:
        return self.beacons.get(self.raft.leader) if self.raft.leader else None


def member_role(snap: AgentSnapshot, node_id: int) -> MemberRole:
    return MemberRole.OBSERVER if node_id in snap.raft.observers else MemberRole.VOTER


def cluster_view(snap: AgentSnapshot) -> ClusterView:
    members = []
    for node_id in sorted(snap.raft.voters | snap.raft.observers):
        info = snap.state.members.get(node_id)
        beacon = snap.beacons.get(node_id)
        host = info.address if info else (beacon.address if beacon else "")
        db_port = info.db_port if info else (beacon.db_port if beacon else None)
        members.append(Member(node_id, member_role(snap, node_id), host, db_port,
                              beacon.wal_position if beacon else None,
                              beacon is not None and beacon.db_role is DbRole.PRIMARY,
                              beacon is not None and beacon.streaming,
                              beacon is not None and beacon.operation == LongOperation.BOOTSTRAP.value))
    settings = snap.state.settings
    return ClusterView(
        my_id=snap.my_id,
        is_leader=snap.raft.is_leader,
        # The core steps a leader down once its lease has run out, so leading means holding it.
        has_quorum=snap.raft.is_leader,
        leader_id=snap.leader_id,
        members=tuple(members),
        add_node_marker=snap.add_node_marker,
        switchover_target=snap.switchover_target,
        operation=snap.operation,
        operation_started_at=snap.operation_started_at,
        retry_not_before=snap.retry_not_before,
        last_failure=snap.last_failure,
        database_system=snap.state.database_system,
        quorum_replication=settings.quorum_replication,
        replication_factor=settings.replication_factor,
        paused=snap.state.paused,
    )


def lag_behind_leader(snap: AgentSnapshot, wal_position: int | None) -> int | None:
    leader = snap.leader_beacon
    if leader is None or leader.wal_position is None or wal_position is None:
        return None
    return max(0, leader.wal_position - wal_position)


def node_health(snap: AgentSnapshot) -> NodeHealth:
    pg = snap.pg
    if pg is None:
        return NodeHealth(snap.agent_alive, False, False, False, False, False, None, observer=True, node_id=snap.my_id)
    primary = pg.role is DbRole.PRIMARY
    return NodeHealth(
        agent_alive=snap.agent_alive,
        pg_running=pg.role in (DbRole.PRIMARY, DbRole.REPLICA),
        is_leader=snap.raft.is_leader,
        in_recovery=pg.role is DbRole.REPLICA,
        # During a switchover the leader's database is on its way out of the primary role.
        writable=snap.raft.is_leader and primary and snap.switchover_target in (None, snap.my_id),
        streaming=pg.streaming,
        lag_bytes=0 if primary else lag_behind_leader(snap, pg.wal_position),
        node_id=snap.my_id,
    )


def _member_state(snap: AgentSnapshot, node_id: int, beacon: Beacon | None, stale_after: float) -> str:
    if beacon is None or snap.last_seen.get(node_id, stale_after + 1) > stale_after:
        return "unreachable"
    if beacon.operation:
        return beacon.operation.replace(" ", "-")
    if beacon.observer:
        return "healthy"
    if beacon.db_role is DbRole.PRIMARY and node_id == snap.raft.leader:
        return "healthy"
    if beacon.db_role is DbRole.REPLICA and beacon.streaming:
        return "healthy"
    return "degraded"


def cluster_map(snap: AgentSnapshot, cluster_id: str, stale_after: float) -> dict[str, Any]:
    """The map of seed 000 §9.4: every member with its roles, WAL positions and lag."""
    leader = snap.raft.leader
    rows: list[MapMember] = []
    ids = sorted(snap.raft.voters | snap.raft.observers | set(snap.state.members))
    for node_id in ids:
        info = snap.state.members.get(node_id)
        beacon = snap.beacons.get(node_id)
        in_conf = node_id in (snap.raft.voters | snap.raft.observers)
        if node_id in snap.raft.observers or (info and info.observer):
            role = "observer"
        elif node_id == leader:
            role = "leader"
        elif in_conf:
            role = "follower"
        else:
            role = "joining"
        wal = beacon.wal_position if beacon else None
        rows.append(MapMember(
            id=node_id,
            name=info.name if info else (beacon.name if beacon else str(node_id)),
            address=info.address if info else (beacon.address if beacon else None),
            api_port=info.api_port if info else None,
            db_port=info.db_port if info else None,
            role=role,
            voter=node_id in snap.raft.voters,
            state=_member_state(snap, node_id, beacon, stale_after),
            db_role=(beacon.db_role if beacon else DbRole.UNKNOWN).value,
            timeline=beacon.timeline if beacon else None,
            wal_position=format_lsn(wal) if wal is not None else None,
            replayed_lsn=format_lsn(beacon.replayed_lsn) if beacon and beacon.replayed_lsn is not None else None,
            lag_bytes=None if role == "observer" else (0 if role == "leader" else lag_behind_leader(snap, wal)),
            streaming=bool(beacon and beacon.streaming),
            archive_failing=bool(beacon and beacon.archive_failing),
            pending_restart=beacon.pending_restart if beacon else None,
            last_seen_s=round(snap.last_seen[node_id], 3) if node_id in snap.last_seen else None,
            decision=beacon.decision if beacon else None,
        ))
    return {
        "cluster_id": cluster_id,
        "term": snap.raft.term,
        # Never 0 and never the pooler: null when there is no leader.
        "leader": leader if leader and leader in snap.raft.voters else None,
        "leader_name": next((row.name for row in rows if row.id == leader), None),
        # The member the leader hands over to in a switchover under way (its beacon says so):
        # the pooler hosts hold their transaction-pooled clients meanwhile (agent/pooler_hold.py).
        "switchover_to": _switchover_to(snap, leader),
        # Maintenance mode: the agents leave the databases as they are (POST /pause, /resume).
        "paused": snap.state.paused,
        # The cluster's node-timeout now (POST /config may change it): with the leader's
        # last_seen_s, a pooler host's sync tells when the leader has gone silent, and bounds its
        # failover hold (pooler/hold.py).
        "node_timeout_s": snap.state.settings.node_timeout,
        "members": [row.to_json() for row in rows],
    }


def _switchover_to(snap: AgentSnapshot, leader: int) -> int | None:
    beacon = snap.beacons.get(leader) if leader else None
    return beacon.switchover_to if beacon is not None else None
