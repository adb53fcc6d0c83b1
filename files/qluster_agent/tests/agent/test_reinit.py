"""Reinit: when this node re-clones its database for a POST /reinit request, and only once."""

from __future__ import annotations

import pytest

from qluster_agent.agent.beacon import Beacon
from qluster_agent.agent.reinit import Reinit
from qluster_agent.agent.views import AgentSnapshot
from qluster_agent.cluster.state import ClusterState, MemberInfo
from qluster_agent.config.runtime import default_cluster_settings
from qluster_agent.ha.decision import Action, Decision
from qluster_agent.pg.conninfo import Endpoint
from qluster_agent.pg.status import DataDirState, PgStatus
from qluster_agent.raft.runtime import RuntimeStatus
from qluster_agent.raft.types import Role

ME, LEADER = 2, 1
REPLICA = PgStatus(datadir=DataDirState.VALID, running=True, accepting=True, in_recovery=True, timeline=1)


def snapshot(requests: dict[int, str], leader: int = LEADER, pg: PgStatus | None = REPLICA,
             known_leader: bool = True) -> AgentSnapshot:
    state = ClusterState(default_cluster_settings())
    if known_leader:
        state = state.apply(ClusterState.cmd_member(MemberInfo(LEADER, "n1", "10.0.0.1", 8080, 5432, False)))
    for node_id, request in requests.items():
        state = state.apply(ClusterState.cmd_reinit(node_id, request))
    role = Role.LEADER if leader == ME else Role.FOLLOWER
    raft = RuntimeStatus(ME, role, leader, 3, frozenset({1, 2, 3}), frozenset(), 10, 10)
    beacons = {ME: Beacon("n2", "10.0.0.2", 8080, 5432, False)}
    return AgentSnapshot(my_id=ME, raft=raft, state=state, beacons=beacons, last_seen={ME: 0.0}, pg=pg,
                         add_node_marker=False, switchover_target=None, operation=None, operation_started_at=None)


@pytest.mark.parametrize("snap, source, why", [
    pytest.param(snapshot({ME: "r1"}), Endpoint("10.0.0.1", 5432), None, id="a request for me: clone from the leader"),
    pytest.param(snapshot({}), None, None, id="no request"),
    pytest.param(snapshot({3: "r1"}), None, None, id="a request for another node"),
    pytest.param(snapshot({ME: "r1"}, leader=ME), None, None, id="a leader is never re-initialised"),
    pytest.param(snapshot({ME: "r1"}, leader=0), None, None, id="no leader to clone from: wait"),
    pytest.param(snapshot({ME: "r1"}, known_leader=False), None, None, id="the leader's database address unknown"),
    pytest.param(snapshot({ME: "r1"}, pg=None), None, None, id="an observer has no database"),
])
def test_when_a_reinit_is_due(tmp_path, snap, source, why) -> None:
    step = Reinit(str(tmp_path)).due(snap)
    if source is None:
        assert step is None
    else:
        assert (step.request, step.source, step.leader_id) == ("r1", source, LEADER)
        assert step.reason == "I am node 2; reinit r1 requested, re-cloning my database from node 1"
        assert step.decision == Decision(Action.REINIT_FROM_LEADER, step.reason, leader=source)


def test_a_request_is_handled_once_across_restarts_and_a_new_one_again(tmp_path) -> None:
    reinit = Reinit(str(tmp_path))
    step = reinit.due(snapshot({ME: "r1"}))
    reinit.started(step)
    assert reinit.due(snapshot({ME: "r1"})) is None
    restarted = Reinit(str(tmp_path))
    assert restarted.due(snapshot({ME: "r1"})) is None
    assert restarted.due(snapshot({ME: "r2"})).request == "r2"


def test_a_reinit_not_started_is_due_again(tmp_path) -> None:
    # ActionRunner.run refuses it while another long operation runs: the next cycle asks again.
    reinit = Reinit(str(tmp_path))
    assert reinit.due(snapshot({ME: "r1"})) is not None
    assert reinit.due(snapshot({ME: "r1"})) is not None
