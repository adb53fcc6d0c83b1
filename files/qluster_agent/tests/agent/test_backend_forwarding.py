"""A change asked of a follower reaches the leader's API signed with the cluster secret.

The leader here is a real API server (router and socket); the follower is the agent's backend
with just what forwarding reads from the agent: the leader's address and the keys.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from qluster_agent.agent.backend import AgentBackend
from qluster_agent.api.backend import ApiError
from qluster_agent.api.router import Router
from qluster_agent.api.server import ApiServer

from ..api.fakes import RecordingBackend

SECRET = b"cluster-secret-0123456789abcdef"
MEMBER = {"id": 4, "name": "qluster-04", "address": "10.77.16.15"}


@pytest.fixture
def leader_backend():
    return RecordingBackend()


def follower_of(server: ApiServer, key: bytes) -> AgentBackend:
    leader = SimpleNamespace(id=1, address="127.0.0.1", api_port=server.port)
    snap = SimpleNamespace(raft=SimpleNamespace(leader=1, is_leader=False), state=SimpleNamespace(members={1: leader}))
    return AgentBackend(SimpleNamespace(snapshot=lambda: snap, api_token=None, forward_key=key))


@pytest.mark.parametrize("leader_key, accepted", [(SECRET, True), (b"another-cluster-secret-000000000", False)])
def test_the_leader_accepts_a_forwarded_change_only_with_the_same_secret(leader_backend, leader_key, accepted):
    server = ApiServer(Router(leader_backend, forward_key=leader_key, node_id=1), "127.0.0.1", 0).start()
    try:
        follower = follower_of(server, SECRET)
        if accepted:
            follower.add_member(dict(MEMBER))
            assert [name for name, _args in leader_backend.calls] == ["add_member"]
        else:
            with pytest.raises(ApiError) as refused:
                follower.add_member(dict(MEMBER))
            assert refused.value.status == 403 and "does not match" in refused.value.message
            assert leader_backend.calls == []
    finally:
        server.close()


def test_a_forwarded_change_reaching_another_node_than_the_leader_it_was_signed_for_is_refused(leader_backend):
    # The follower's map still names node 1, but the node at that address is now node 2.
    server = ApiServer(Router(leader_backend, forward_key=SECRET, node_id=2), "127.0.0.1", 0).start()
    try:
        with pytest.raises(ApiError) as refused:
            follower_of(server, SECRET).add_member(dict(MEMBER))
        assert refused.value.status == 403 and "signed for node 1, not for this node 2" in refused.value.message
        assert leader_backend.calls == []
    finally:
        server.close()
