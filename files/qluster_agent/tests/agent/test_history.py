"""The history of leader changes: what a new leader records, and why (agent/history.py)."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from qluster_agent.agent.beacon import Beacon
from qluster_agent.agent.history import History, leader_change
from qluster_agent.agent.views import AgentSnapshot
from qluster_agent.cluster.state import ClusterState, LeaderChange
from qluster_agent.config.runtime import default_cluster_settings
from qluster_agent.raft.runtime import RuntimeStatus
from qluster_agent.raft.types import Role

ME = 2


def snapshot(leader: int, term: int, history: tuple[LeaderChange, ...] = (), paused: bool = False,
             switchover_to: int | None = None) -> AgentSnapshot:
    state = ClusterState(default_cluster_settings(), paused=paused, history=history)
    raft = RuntimeStatus(ME, Role.LEADER if leader == ME else Role.FOLLOWER, leader, term,
                         frozenset({1, 2, 3}), frozenset(), 10, 10)
    beacons = {ME: Beacon("n2", "10.0.0.2", 8080, 5432, False)}
    if leader not in (0, ME):
        beacons[leader] = Beacon(f"n{leader}", f"10.0.0.{leader}", 8080, 5432, False, switchover_to=switchover_to)
    return AgentSnapshot(my_id=ME, raft=raft, state=state, beacons=beacons, last_seen={ME: 0.0}, pg=None,
                         add_node_marker=False, switchover_target=None, operation=None, operation_started_at=None)


LED_BY_1 = (LeaderChange(5.0, 3, None, 1, "initial"),)


@pytest.mark.parametrize("snap, handed_by, expected", [
    pytest.param(snapshot(ME, 1), None, (None, "initial"), id="nothing recorded yet: the first leader"),
    pytest.param(snapshot(ME, 4, LED_BY_1), None, (1, "failover"), id="node 1 led: a failover"),
    pytest.param(snapshot(ME, 4, LED_BY_1), 1, (1, "switchover"), id="node 1 named me its switchover target"),
    pytest.param(snapshot(ME, 4, LED_BY_1), 3, (1, "failover"),
                 id="a hand-over by another node than the one recorded is no switchover of this change"),
    pytest.param(snapshot(ME, 4, LED_BY_1, paused=True), 1, (1, "manual"), id="leadership moved while paused"),
    pytest.param(snapshot(ME, 3, LED_BY_1), None, None, id="this term is recorded already"),
    pytest.param(snapshot(ME, 6, LED_BY_1 + (LeaderChange(6.0, 5, 1, ME, "failover"),)), None, None,
                 id="elected again after my own term: no change"),
    pytest.param(snapshot(1, 4, LED_BY_1), None, None, id="a follower records nothing"),
])
def test_what_a_new_leader_records(snap, handed_by, expected):
    change = leader_change(snap, handed_by, 1234.5678)
    if expected is None:
        assert change is None
    else:
        assert (change.from_id, change.reason) == expected
        assert (change.at, change.term, change.to_id) == (1234.568, snap.raft.term, ME)


def test_a_hand_over_seen_while_following_makes_the_next_change_a_switchover():
    history = History()
    history.observe(snapshot(1, 3, LED_BY_1, switchover_to=ME))
    history.observe(snapshot(0, 3, LED_BY_1))  # an election: nobody known leads, the note stays
    change = history.due(snapshot(ME, 4, LED_BY_1), 100.0)
    assert (change.from_id, change.reason) == (1, "switchover")


def test_a_hand_over_to_another_node_or_abandoned_is_forgotten():
    history = History()
    history.observe(snapshot(1, 3, LED_BY_1, switchover_to=ME))
    history.observe(snapshot(1, 3, LED_BY_1, switchover_to=None))  # the switchover expired
    assert history.due(snapshot(ME, 4, LED_BY_1), 100.0).reason == "failover"


def test_proposed_once_per_term_unless_it_failed():
    history = History()
    snap = snapshot(ME, 4, LED_BY_1)
    change = history.due(snap, 100.0)
    pending: Future = Future()
    history.proposed(change, pending)
    assert history.due(snap, 101.0) is None  # in flight
    pending.set_exception(RuntimeError("leadership lost"))
    assert history.due(snap, 102.0) is not None  # not committed: proposed again
    committed: Future = Future()
    history.proposed(change, committed)
    committed.set_result(None)
    assert history.due(snap, 103.0) is None  # committed (the applied state shows it a moment later)
