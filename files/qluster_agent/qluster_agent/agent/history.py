"""The history of leader changes (GET /history, `qlusterctl history`): recorded by each new leader.

A leader change is an entry of the replicated state (ClusterState.history, the latest
HISTORY_LIMIT), proposed by the node that now leads, once per term, as its first duty: the
previous leader may be gone, and only the new one knows it leads. The reason:

- `initial`: the history records no leader yet (a new cluster, or the first leader after an
  update to a version that keeps a history);
- `switchover`: the previous leader handed leadership to this node (POST /switchover, a restart
  of the leader): while it did, its beacon named this node as `switchover_to`, which this node
  noted while it was still a follower (the beacon changes as soon as the old leader sees the new
  one, so it is not read at the moment of the change);
- `manual`: leadership moved while the cluster was paused: no agent touched a database, the
  operator is in charge (docs/agent.md, maintenance mode);
- `failover`: any other change (the leader's agent or host died, it lost quorum, or it stepped
  down because its database could not run).

A node elected again after a term in which nobody else was recorded (a leader that lost quorum
and won again) is no change and is not recorded.
"""

from __future__ import annotations

from concurrent.futures import Future

from ..cluster.state import LeaderChange
from .views import AgentSnapshot


def leader_change(snap: AgentSnapshot, handed_by: int | None, wall_now: float) -> LeaderChange | None:
    """The entry this leader records now (pure), or None: not the leader, or nothing new."""
    if not snap.raft.is_leader:
        return None
    history = snap.state.history
    last = history[-1] if history else None
    if last is not None and (last.term >= snap.raft.term or last.to_id == snap.my_id):
        return None
    if last is None:
        reason = "initial"
    elif snap.state.paused:
        reason = "manual"
    elif handed_by is not None and handed_by == last.to_id:
        reason = "switchover"
    else:
        reason = "failover"
    return LeaderChange(round(wall_now, 3), snap.raft.term, last.to_id if last else None, snap.my_id, reason)


class History:
    """Notes a switchover hand-over while following; proposes the entry once leading."""

    def __init__(self) -> None:
        self._handed_by: int | None = None  # the leader whose beacon named me as its switchover target
        self._pending: Future | None = None
        self._proposed_term = 0

    def observe(self, snap: AgentSnapshot) -> None:
        """Each cycle: does the leader I follow hand over to me? Kept through an election (no
        leader known), dropped when a leader is seen that does not."""
        if snap.raft.is_leader:
            return
        leader = snap.leader_beacon
        if leader is None:
            return
        self._handed_by = snap.leader_id if leader.switchover_to == snap.my_id else None

    def due(self, snap: AgentSnapshot, wall_now: float) -> LeaderChange | None:
        """The entry to propose now: at most one proposal in flight, once per term unless it failed."""
        if self._pending is not None and not self._pending.done():
            return None
        if self._pending is not None and self._pending.exception() is not None:
            self._proposed_term = 0  # not committed (leadership lost meanwhile?): may be proposed again
        self._pending = None
        if snap.raft.term <= self._proposed_term:
            return None
        return leader_change(snap, self._handed_by, wall_now)

    def proposed(self, change: LeaderChange, future: Future) -> None:
        self._proposed_term = change.term
        self._pending = future
        self._handed_by = None
