"""POST /pause, /resume and GET /history through the agent's backend: committed on the leader,
forwarded from a follower, and what a paused cluster refuses."""

from __future__ import annotations

from concurrent.futures import Future
from types import SimpleNamespace

import pytest

from qluster_agent.agent.backend import AgentBackend
from qluster_agent.api.backend import ApiError
from qluster_agent.api.router import Router
from qluster_agent.api.server import ApiServer
from qluster_agent.cluster.state import ClusterState, LeaderChange, MemberInfo
from qluster_agent.config.runtime import default_cluster_settings

from ..api.fakes import RecordingBackend
from .test_backend_forwarding import SECRET, follower_of

N1 = MemberInfo(1, "qluster-01", "10.0.0.1", 8080, 5432)
N2 = MemberInfo(2, "qluster-02", "10.0.0.2", 8080, 5432)


class LeaderAgent:
    """What the backend reads of a leading agent; a proposal commits (applies) at once."""

    my_id = 1

    def __init__(self, paused: bool = False) -> None:
        self.state = ClusterState(default_cluster_settings(), members={1: N1, 2: N2}, paused=paused)
        self.proposed: list[bytes] = []
        self.runtime = SimpleNamespace(propose=self._propose)

    def cluster_state(self) -> ClusterState:
        return self.state

    def snapshot(self):
        raft = SimpleNamespace(leader=1, is_leader=True, voters=frozenset({1, 2}), observers=frozenset())
        return SimpleNamespace(raft=raft, state=self.state, pg=None, beacons={})

    def _propose(self, command: bytes) -> Future:
        self.proposed.append(command)
        self.state = self.state.apply(command)
        done: Future = Future()
        done.set_result(None)
        return done


def test_pause_and_resume_commit_the_flag_once():
    agent = LeaderAgent()
    backend = AgentBackend(agent)
    answer = backend.pause({})
    assert answer["paused"] is True and "leave every database as it is" in answer["message"]
    assert agent.state.paused is True
    assert backend.pause({}) == {"message": "the cluster is paused already", "paused": True}
    assert len(agent.proposed) == 1  # nothing proposed for a cluster already paused
    assert backend.resume({})["paused"] is False
    assert agent.state.paused is False and len(agent.proposed) == 2


def test_pause_takes_no_body():
    with pytest.raises(ApiError) as refused:
        AgentBackend(LeaderAgent()).pause({"member": 2})
    assert refused.value.status == 400 and refused.value.details == ["member: unknown key"]


@pytest.mark.parametrize("call", [
    pytest.param(lambda backend: backend.switchover({"leader": 2}), id="switchover"),
    pytest.param(lambda backend: backend.reinit({"member": 2}), id="reinit"),
])
def test_a_paused_cluster_refuses_what_would_act_on_a_database(call):
    agent = LeaderAgent(paused=True)
    with pytest.raises(ApiError) as refused:
        call(AgentBackend(agent))
    assert refused.value.status == 409 and "the cluster is paused" in refused.value.message
    assert agent.proposed == []


def test_pause_asked_of_a_follower_is_forwarded_to_the_leader():
    leader_backend = RecordingBackend()
    server = ApiServer(Router(leader_backend, forward_key=SECRET, node_id=1), "127.0.0.1", 0).start()
    try:
        follower = follower_of(server, SECRET)
        follower._agent.cluster_state = lambda: ClusterState(default_cluster_settings())
        assert follower.pause({})["paused"] is True
        assert leader_backend.calls == [("pause", {})]
    finally:
        server.close()


def test_history_names_the_members():
    agent = LeaderAgent()
    for change in (LeaderChange(10.0, 1, None, 1, "initial"), LeaderChange(20.0, 3, 1, 2, "switchover"),
                   LeaderChange(30.0, 5, 2, 7, "failover")):
        agent.state = agent.state.apply(ClusterState.cmd_leader_change(change))
    rows = AgentBackend(agent).history()["history"]
    assert [(r["term"], r["from_name"], r["to_name"], r["reason"]) for r in rows] == [
        (1, None, "qluster-01", "initial"), (3, "qluster-01", "qluster-02", "switchover"),
        (5, "qluster-02", None, "failover")]  # node 7 was removed since: no name
