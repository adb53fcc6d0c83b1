"""The HTTP layer: routing, status codes, body validation and authorization."""

from __future__ import annotations

import json

import pytest

from qluster_agent.api import forwarding
from qluster_agent.api.backend import ApiError
from qluster_agent.api.router import Request, Router
from qluster_agent.config.runtime import cluster_settings_to_json, default_cluster_settings, validate_cluster_update

from .fakes import REPLICA, RecordingBackend

TOKEN = "s3cret-token-0123456789"


def call(router, method, target, body=None, headers=None, client="127.0.0.1", **connection):
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    hdrs = {"content-type": "application/json", **(headers or {})}
    return router.handle(Request(method, target, hdrs, raw, client, **connection))


def payload(response):
    return json.loads(response.body)


@pytest.fixture
def backend():
    return RecordingBackend()


def test_map_and_config_are_json(backend):
    router = Router(backend)
    assert payload(call(router, "GET", "/map")) == {"leader": 1, "members": []}
    assert payload(call(router, "GET", "/config/")) == {"node-timeout": "800ms"}


def test_health_get_head_options(backend):
    backend.state = REPLICA
    router = Router(backend)
    assert call(router, "GET", "/primary").status == 503
    assert call(router, "HEAD", "/replica").status == 200
    assert call(router, "HEAD", "/replica").body == b""
    # HAProxy's plain `option httpchk` sends OPTIONS: it must answer like GET.
    assert call(router, "OPTIONS", "/replica").status == 200
    assert call(router, "OPTIONS", "/replica?lag=1").status == 503
    assert call(router, "GET", "/replica?lag=100").status == 503
    assert call(router, "GET", "/replica?lag=10MB").status == 200


def test_bad_lag_is_400_naming_the_value(backend):
    response = call(Router(backend), "GET", "/replica?lag=lots")
    assert response.status == 400
    assert "'lots'" in payload(response)["error"]


def test_health_rejects_writes(backend):
    assert call(Router(backend), "POST", "/primary", {}).status == 405


def test_post_config_applies_and_returns_new_config(backend):
    response = call(Router(backend), "POST", "/config", {"node-timeout": "5s"})
    assert response.status == 200
    assert payload(response) == {"node-timeout": "5s"}


def test_bad_config_is_400_with_every_error_and_nothing_applied(backend):
    response = call(Router(backend), "POST", "/config", {"node-timeout": "5s", "nope": 1, "nada": 2})
    assert response.status == 400
    assert sorted(payload(response)["details"]) == ["nada: unknown key", "nope: unknown key"]
    assert backend.config == {"node-timeout": "800ms"}


class SettingsBackend(RecordingBackend):
    """update_config as the agent's backend does it: the real validation, the whole body or nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.settings = default_cluster_settings()

    def get_config(self):
        return cluster_settings_to_json(self.settings)

    def update_config(self, body):
        self.calls.append(("update_config", body))
        settings, problems = validate_cluster_update(body, self.settings)
        if settings is None:
            raise ApiError(400, "invalid configuration; nothing was changed", problems)
        self.settings = settings
        return self.get_config()


@pytest.mark.parametrize("body, details", [
    ({"node-timeout": "99999999999999999999h"}, ["node-timeout: '99999999999999999999h' is out of range 100ms..1m"]),
    ({"heartbeat-interval": "1s", "remove-interval": "0s", "set-leader-timeout": "11m", "replication-factor": 1001},
     ["remove-interval: '0s' is out of range 1s..24h", "set-leader-timeout: '11m' is out of range 1s..10m",
      "replication-factor: 1001 is out of range 0..1000"]),
    ({"pre-voting-timeout": "49ms", "leader-voting-timeout": "60001ms", "replication-retry-interval": "9ms"},
     ["pre-voting-timeout: '49ms' is out of range 50ms..1m", "leader-voting-timeout: '60001ms' is out of range 50ms..1m",
      "replication-retry-interval: '9ms' is out of range 10ms..1m"]),
])
def test_post_config_out_of_range_is_400_with_every_problem_and_nothing_applied(body, details):
    backend = SettingsBackend()
    router = Router(backend)
    before = payload(call(router, "GET", "/config"))
    response = call(router, "POST", "/config", body)
    assert response.status == 400
    assert payload(response) == {"error": "invalid configuration; nothing was changed", "details": details}
    assert payload(call(router, "GET", "/config")) == before


def test_post_config_in_range_is_applied():
    backend = SettingsBackend()
    response = call(Router(backend), "POST", "/config", {"node-timeout": "1m", "heartbeat-interval": "10ms"})
    assert response.status == 200
    assert payload(response)["node-timeout"] == "1m" and payload(response)["heartbeat-interval"] == "10ms"


@pytest.mark.parametrize("body,status,fragment", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "must be a JSON object"),
])
def test_malformed_bodies(backend, body, status, fragment):
    response = call(Router(backend), "POST", "/config", body)
    assert response.status == status
    assert fragment in payload(response)["error"]
    assert backend.calls == []


def test_wrong_content_type_is_415(backend):
    response = call(Router(backend), "POST", "/config", b"node-timeout=5s",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status == 415


def test_without_token_changes_only_from_loopback(backend):
    router = Router(backend)
    assert call(router, "POST", "/switchover", {"leader": 2}, client="10.77.16.3").status == 403
    assert call(router, "POST", "/switchover", {"leader": 2}, client="::1").status == 200
    assert backend.calls == [("switchover", {"leader": 2})]


def test_with_token_changes_need_it_from_anywhere(backend):
    router = Router(backend, token=TOKEN)
    assert call(router, "POST", "/config", {"node-timeout": "1s"}).status == 401
    assert call(router, "POST", "/config", {"node-timeout": "1s"},
                headers={"authorization": "Bearer wrong"}).status == 401
    ok = call(router, "DELETE", "/members/3", headers={"authorization": f"Bearer {TOKEN}"},
              client="10.77.16.9")
    assert ok.status == 200
    assert backend.calls == [("remove_member", "3")]
    # Reading needs no token.
    assert call(router, "GET", "/members", client="10.77.16.9").status == 200


BEARER = {"authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("token, trust_loopback, client, headers, status, fragment", [
    # No token: loopback is trusted by default (the seed's curl on the node), nobody else is.
    (None, None, "127.0.0.1", {}, 200, None),
    (None, None, "10.77.16.3", {}, 403, "need the API token, and none is configured"),
    # A token: loopback needs it too by default ...
    (TOKEN, None, "127.0.0.1", {}, 401, "needs the API token (Authorization: Bearer <token>); none was sent"),
    (TOKEN, None, "127.0.0.1", BEARER, 200, None),
    (TOKEN, False, "::1", {"authorization": "Bearer wrong-token-0123456789"}, 401, "is not this node's api-token"),
    # ... unless api-trust-loopback opts in; others still need it.
    (TOKEN, True, "127.0.0.1", {}, 200, None),
    (TOKEN, True, "::1", {}, 200, None),
    (TOKEN, True, "10.77.16.3", {}, 401, "none was sent"),
    (TOKEN, True, "10.77.16.3", BEARER, 200, None),
    # No token and loopback not trusted (the config refuses it; the router still says why).
    (None, False, "127.0.0.1", {}, 403, "not trusted (api-trust-loopback: false)"),
])
def test_api_trust_loopback_with_and_without_a_token(backend, token, trust_loopback, client, headers, status, fragment):
    router = Router(backend, token=token, trust_loopback=trust_loopback)
    response = call(router, "POST", "/switchover", {"leader": 2}, headers=headers, client=client)
    assert response.status == status, payload(response)
    if fragment:
        assert fragment in payload(response)["error"]
    assert backend.calls == ([("switchover", {"leader": 2})] if status == 200 else [])
    # Reads stay open to everyone.
    for path in ("/map", "/config", "/members", "/metrics", "/health"):
        assert call(router, "GET", path, client=client).status == 200


def test_a_change_over_https_needs_a_verified_client_certificate_besides_the_token(backend):
    router = Router(backend, token=TOKEN, trust_loopback=True, client_cert_for_changes=True)
    refused = call(router, "POST", "/switchover", {"leader": 2}, headers=BEARER, client="10.77.16.3", tls=True)
    assert refused.status == 403 and "needs a client certificate" in payload(refused)["error"]
    # Even from loopback (a node whose ip is a loopback address): the certificate comes first.
    assert call(router, "POST", "/switchover", {"leader": 2}, client="127.0.0.5", tls=True).status == 403
    assert call(router, "POST", "/switchover", {"leader": 2}, client="10.77.16.3", tls=True,
                client_cert=True).status == 401
    assert backend.calls == []
    assert call(router, "POST", "/switchover", {"leader": 2}, headers=BEARER, client="10.77.16.3", tls=True,
                client_cert=True).status == 200
    # Plain HTTP (the loopback listener) follows the token and loopback rules alone.
    assert call(router, "POST", "/switchover", {"leader": 2}, client="127.0.0.1").status == 200
    # Reads over HTTPS need no certificate.
    assert call(router, "GET", "/map", client="10.77.16.3", tls=True).status == 200
    assert len(backend.calls) == 2


def test_a_forwarded_change_over_https_needs_the_forwarding_members_certificate(backend):
    router = Router(backend, forward_key=SECRET, clock=lambda: NOW, node_id=LEADER, client_cert_for_changes=True)
    raw = json.dumps({"leader": 2}).encode()
    for client_cert, status in ((False, 403), (True, 200)):
        signature = forwarding.sign(SECRET, "POST", "/switchover", raw, NOW, LEADER)
        response = call(router, "POST", "/switchover", raw, headers={forwarding.HEADER: signature},
                        client="10.77.16.3", tls=True, client_cert=client_cert)
        assert response.status == status
    assert backend.calls == [("switchover", {"leader": 2})]


SECRET = b"cluster-secret-0123456789abcdef"
NOW = 1_800_000_000.0


LEADER = 7  # the node id of the router under test


def forwarded(router, target, body, key=SECRET, signed_at=NOW, tamper=None, to_node=LEADER, signature=None):
    raw = json.dumps(body).encode()
    signature = signature or forwarding.sign(key, "POST", target, raw, signed_at, to_node)
    return call(router, "POST", target, tamper if tamper is not None else raw,
                headers={forwarding.HEADER: signature}, client="10.77.16.3")


def test_a_change_forwarded_by_a_member_is_accepted_without_a_token(backend):
    router = Router(backend, forward_key=SECRET, clock=lambda: NOW + 2, node_id=LEADER)
    assert forwarded(router, "/switchover", {"leader": 2}).status == 200
    assert backend.calls == [("switchover", {"leader": 2})]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"key": b"another-cluster-secret-000000000"}, "does not match"),
    ({"tamper": json.dumps({"leader": 3}).encode()}, "does not match"),
    ({"signed_at": NOW - 300}, "clocks synchronised"),
    ({"to_node": 8}, "signed for node 8, not for this node 7"),
    ({"signature": f"{NOW:.3f}:abc"}, "without a nonce"),
])
def test_a_forged_altered_stale_or_misaddressed_forwarded_change_is_refused(backend, kwargs, fragment):
    router = Router(backend, forward_key=SECRET, clock=lambda: NOW, node_id=LEADER)
    response = forwarded(router, "/switchover", {"leader": 2}, **kwargs)
    assert response.status == 403
    assert fragment in payload(response)["error"]
    assert backend.calls == []


def test_a_captured_forwarded_change_is_carried_out_once(backend):
    router = Router(backend, forward_key=SECRET, clock=lambda: NOW + 1, node_id=LEADER)
    signature = forwarding.sign(SECRET, "POST", "/reinit", json.dumps({"member": 2}).encode(), NOW, LEADER)
    assert forwarded(router, "/reinit", {"member": 2}, signature=signature).status == 200
    replayed = forwarded(router, "/reinit", {"member": 2}, signature=signature)
    assert replayed.status == 403 and "accepted once" in payload(replayed)["error"]
    assert backend.calls == [("reinit", {"member": 2})]
    # A new signature of the same change is a new request.
    assert forwarded(router, "/reinit", {"member": 2}).status == 200


def test_remembered_nonces_are_bounded_and_forgotten_once_their_time_has_passed():
    seen = forwarding.SeenNonces(capacity=3)
    for number in range(5):
        assert seen.first_use(f"{number:032x}", NOW, NOW)
    assert not seen.first_use(f"{4:032x}", NOW, NOW)  # the newest are kept
    later = NOW + forwarding.MAX_SKEW_S + 1
    assert seen.first_use(f"{4:032x}", later, later)  # by then its timestamp would be refused anyway


def test_a_malformed_signature_is_refused_even_with_a_token_configured(backend):
    router = Router(backend, token=TOKEN, forward_key=SECRET, clock=lambda: NOW, node_id=LEADER)
    response = call(router, "POST", "/switchover", {"leader": 2},
                    headers={forwarding.HEADER: "yesterday", "authorization": f"Bearer {TOKEN}"}, client="10.77.16.3")
    assert response.status == 403 and "malformed" in payload(response)["error"]
    assert backend.calls == []


def test_unknown_path_404_and_wrong_method_405(backend):
    router = Router(backend)
    assert call(router, "GET", "/nope").status == 404
    assert call(router, "DELETE", "/config").status == 405


def test_metrics_text_format(backend):
    response = call(Router(backend), "GET", "/metrics")
    assert response.content_type.startswith("text/plain")
    text = response.body.decode()
    assert "# TYPE qluster_term gauge\nqluster_term 4.0\n" in text
    assert 'qluster_transport_events_total{kind="odd \\"kind\\""} 1.0' in text


def test_openapi_lists_every_routed_path(backend):
    doc = payload(call(Router(backend), "GET", "/openapi.json"))
    for path in ("/map", "/config", "/members", "/members/{member}", "/switchover", "/reinit",
                 "/primary", "/replica", "/read-only", "/health", "/liveness", "/readiness", "/metrics"):
        assert path in doc["paths"], path


def test_pause_and_resume_need_the_token_like_every_change_and_history_is_open(backend):
    router = Router(backend, token=TOKEN)
    for path in ("/pause", "/resume"):
        assert call(router, "POST", path, client="10.0.0.8").status == 401
        assert call(router, "POST", path, headers={"authorization": "Bearer wrong"}, client="10.0.0.8").status == 401
    assert backend.calls == []
    ok = call(router, "POST", "/pause", headers={"authorization": f"Bearer {TOKEN}"}, client="10.0.0.8")
    assert (ok.status, payload(ok)["paused"]) == (200, True)
    ok = call(router, "POST", "/resume", {}, headers={"authorization": f"Bearer {TOKEN}"}, client="10.0.0.8")
    assert (ok.status, payload(ok)["paused"]) == (200, False)
    assert backend.calls == [("pause", {}), ("resume", {})]
    assert payload(call(router, "GET", "/history", client="10.0.0.8"))["history"][0]["reason"] == "initial"
    assert call(router, "GET", "/pause").status == 405
