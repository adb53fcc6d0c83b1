"""POST /restart and /reload through the agent's backend: run by this node's HA loop when it is
the member named, forwarded to the member's own agent otherwise, and the leader only with force."""

from __future__ import annotations

from concurrent.futures import Future
from types import SimpleNamespace

import pytest

from qluster_agent.agent.backend import AgentBackend
from qluster_agent.agent.db_requests import DbRequestKind, DbRequestRefused
from qluster_agent.api.backend import ApiError
from qluster_agent.api.router import Router
from qluster_agent.api.server import ApiServer
from qluster_agent.cluster.state import ClusterState, MemberInfo
from qluster_agent.config.runtime import default_cluster_settings

from ..api.fakes import RecordingBackend
from .test_backend_forwarding import SECRET


class Agent:
    """Node `my_id` of voters 1-3 (node 1 leads) and observer 9; a database request is settled at once."""

    api_token = None
    api_tls = None
    forward_key = SECRET

    def __init__(self, my_id: int, outcome: Exception | None = None, members: dict | None = None) -> None:
        self.my_id = my_id
        self.outcome = outcome
        self.asked: list[DbRequestKind] = []
        self.state = ClusterState(default_cluster_settings(), members=members or {})

    def snapshot(self):
        raft = SimpleNamespace(leader=1, is_leader=self.my_id == 1, voters=frozenset({1, 2, 3}),
                               observers=frozenset({9}))
        return SimpleNamespace(raft=raft, state=self.state)

    def cluster_state(self):
        return self.state

    def request_database(self, kind: DbRequestKind) -> Future:
        self.asked.append(kind)
        future: Future = Future()
        if self.outcome is None:
            future.set_result(None)
        else:
            future.set_exception(self.outcome)
        return future


@pytest.mark.parametrize("call, kind, words", [
    (lambda backend: backend.restart({"member": 2}), DbRequestKind.RESTART, "node 2: its database restarted"),
    (lambda backend: backend.reload({"member": "2"}), DbRequestKind.RELOAD, "node 2: its database's configuration reloaded"),
    (lambda backend: backend.restart({"member": 1, "force": True}), None, "node 1: its database restarted"),
])
def test_the_member_named_runs_it_in_its_ha_loop(call, kind, words):
    agent = Agent(my_id=1 if kind is None else 2)
    answer = call(AgentBackend(agent))
    assert answer["message"] == words and answer["done"] is True
    assert agent.asked == [kind or DbRequestKind.RESTART]


@pytest.mark.parametrize("body, status, words", [
    ({"member": 1}, 409, "node 1 is the leader; switch over first"),
    ({"member": 9}, 400, "observer and has no database"),
    ({"member": 7}, 404, "not a member"),
    ({"member": 2, "force": "yes"}, 400, "invalid restart request"),
    ({"member": 2, "now": True}, 400, "invalid restart request"),
])
def test_what_a_restart_refuses(body, status, words):
    agent = Agent(my_id=1)
    with pytest.raises(ApiError) as refused:
        AgentBackend(agent).restart(body)
    assert refused.value.status == status and words in refused.value.message
    assert agent.asked == []


def test_a_restart_the_loop_cannot_run_is_409_with_why():
    agent = Agent(my_id=2, outcome=DbRequestRefused("a base backup is in progress"))
    with pytest.raises(ApiError) as refused:
        AgentBackend(agent).restart({"member": 2})
    assert refused.value.status == 409 and refused.value.message == (
        "restart of node 2's database not done: a base backup is in progress")


def test_a_slow_restart_is_answered_as_under_way(monkeypatch):
    monkeypatch.setattr("qluster_agent.agent.backend.DATABASE_REQUEST_WAIT", 0.01)
    agent = Agent(my_id=2)
    agent.request_database = lambda kind: Future()  # never settled within the wait
    answer = AgentBackend(agent).restart({"member": 2})
    assert answer["done"] is False and "under way" in answer["message"]


def test_a_restart_of_another_member_goes_to_that_members_agent_signed_for_it():
    member_backend = RecordingBackend()
    server = ApiServer(Router(member_backend, forward_key=SECRET, node_id=3), "127.0.0.1", 0).start()
    try:
        members = {3: MemberInfo(3, "qluster-03", "127.0.0.1", server.port, 5432)}
        answer = AgentBackend(Agent(my_id=2, members=members)).restart({"member": 3})
        assert answer["message"] == "restarted"
        assert member_backend.calls == [("restart", {"member": 3})]
    finally:
        server.close()


def test_a_member_that_refuses_is_named_as_the_member_not_the_leader():
    class Busy(RecordingBackend):
        def restart(self, body):
            raise ApiError(409, "restart of node 3's database not done: a rewind is in progress")

    server = ApiServer(Router(Busy(), forward_key=SECRET, node_id=3), "127.0.0.1", 0).start()
    try:
        members = {3: MemberInfo(3, "qluster-03", "127.0.0.1", server.port, 5432)}
        with pytest.raises(ApiError) as refused:
            AgentBackend(Agent(my_id=2, members=members)).restart({"member": 3})
        assert refused.value.status == 409
        assert refused.value.message == "node 3: restart of node 3's database not done: a rewind is in progress"
    finally:
        server.close()
