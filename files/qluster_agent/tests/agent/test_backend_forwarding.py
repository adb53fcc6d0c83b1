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
from qluster_agent.api.tls import ApiTls, client_context, server_context
from qluster_agent.config.model import VerifyClient

from ..api.fakes import RecordingBackend

SECRET = b"cluster-secret-0123456789abcdef"
MEMBER = {"id": 4, "name": "qluster-04", "address": "10.77.16.15"}


@pytest.fixture
def leader_backend():
    return RecordingBackend()


def follower_of(server: ApiServer, key: bytes, api_tls: ApiTls | None = None, address: str = "127.0.0.1") -> AgentBackend:
    leader = SimpleNamespace(id=1, address=address, api_port=server.port)
    snap = SimpleNamespace(raft=SimpleNamespace(leader=1, is_leader=False), state=SimpleNamespace(members={1: leader}))
    return AgentBackend(SimpleNamespace(snapshot=lambda: snap, api_token=None, forward_key=key, api_tls=api_tls))


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


def https_leader(backend, certificate: tuple[str, str], ca: str, host: str = "127.0.0.1") -> ApiServer:
    """The leader's API as the agent serves it with api-certfile: HTTPS, client certificates optional."""
    router = Router(backend, forward_key=SECRET, node_id=1, client_cert_for_changes=True)
    return ApiServer(router, host, 0, server_context(*certificate, ca, VerifyClient.OPTIONAL)).start()


def follower_tls(pki, certificate: tuple[str, str] | None) -> ApiTls:
    """The follower's own contexts: it checks the leader against the CA and presents `certificate`."""
    node = server_context(*pki.node, pki.ca, VerifyClient.OPTIONAL)
    client = client_context(pki.ca, *certificate) if certificate else client_context(pki.ca)
    return ApiTls(node, client, VerifyClient.OPTIONAL)


def test_a_change_is_forwarded_to_the_leader_over_https_with_the_followers_certificate(leader_backend, pki):
    server = https_leader(leader_backend, pki.node, pki.ca)
    try:
        follower_of(server, SECRET, follower_tls(pki, pki.node)).add_member(dict(MEMBER))
        assert [name for name, _args in leader_backend.calls] == ["add_member"]
        assert server._httpd.plain_http_refused == 0
    finally:
        server.close()


def test_a_follower_without_a_client_certificate_is_refused_by_name(leader_backend, pki):
    server = https_leader(leader_backend, pki.node, pki.ca)
    try:
        with pytest.raises(ApiError) as refused:
            follower_of(server, SECRET, follower_tls(pki, None)).add_member(dict(MEMBER))
        assert refused.value.status == 403 and "needs a client certificate" in refused.value.message
        assert leader_backend.calls == []
    finally:
        server.close()


def test_a_leader_whose_certificate_does_not_name_its_address_is_not_trusted(leader_backend, pki):
    # Signed by the cluster's CA, but for 127.0.0.2: the hostname check refuses it at 127.0.0.1.
    server = https_leader(leader_backend, pki.other_ip, pki.ca)
    try:
        with pytest.raises(ApiError) as refused:
            follower_of(server, SECRET, follower_tls(pki, pki.node)).add_member(dict(MEMBER))
        assert refused.value.status == 503 and "cannot reach the leader node 1" in refused.value.message
        assert "IP address mismatch" in refused.value.message
        assert leader_backend.calls == []
    finally:
        server.close()


def test_a_follower_without_tls_cannot_forward_to_an_https_leader(leader_backend, pki):
    # Every node has TLS on or off alike: plain HTTP to the HTTPS socket is answered 400.
    server = https_leader(leader_backend, pki.node, pki.ca)
    try:
        with pytest.raises(ApiError) as refused:
            follower_of(server, SECRET).add_member(dict(MEMBER))
        assert refused.value.status == 400 and "this port speaks HTTPS" in refused.value.message
        assert leader_backend.calls == []
    finally:
        server.close()
