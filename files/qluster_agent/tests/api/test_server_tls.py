"""The API over HTTPS with real sockets and a throwaway CA (tests/pki.py): reads, changes with and
without client certificates, foreign certificates, plain HTTP on the HTTPS port, and a client
that connects and sends nothing."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import time

import pytest

from qluster_agent.api import server as api_server
from qluster_agent.api.router import Router
from qluster_agent.api.server import ApiServer
from qluster_agent.api.tls import client_context, listeners, server_context
from qluster_agent.config.model import VerifyClient

from .fakes import RecordingBackend

pytestmark = pytest.mark.timeout(60)

TOKEN = "tls-test-token-0123456789"


@pytest.fixture
def serve(pki):
    """serve(verify) -> (server, backend): an HTTPS API on 127.0.0.1 with the test CA's node certificate."""
    started: list[ApiServer] = []

    def start(verify: VerifyClient = VerifyClient.OPTIONAL, token: str | None = TOKEN):
        backend = RecordingBackend()
        router = Router(backend, token=token, trust_loopback=False,
                        client_cert_for_changes=verify is not VerifyClient.NONE)
        context = server_context(*pki.node, pki.ca, verify)
        srv = ApiServer(router, "127.0.0.1", 0, context).start()
        started.append(srv)
        return srv, backend

    yield start
    for srv in started:
        srv.close()


def call(port: int, context: ssl.SSLContext, method: str = "GET", path: str = "/map", body: dict | None = None,
         token: str | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, json.dumps(body).encode() if body is not None else None, headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else {}
    finally:
        conn.close()


def test_a_read_over_https_is_answered_to_a_client_that_trusts_the_ca(serve, pki):
    srv, _backend = serve()
    assert call(srv.port, client_context(pki.ca)) == (200, {"leader": 1, "members": []})
    # A client that does not know the CA refuses the server.
    with pytest.raises(ssl.SSLCertVerificationError):
        call(srv.port, client_context(pki.path("foreign-ca.pem")))


def test_plain_http_to_the_https_port_is_answered_400_naming_the_scheme(serve):
    srv, backend = serve()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.request("POST", "/switchover", b'{"leader": 2}', {"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 400
    assert answer["error"] == f"this port speaks HTTPS: use https://, or on the node itself http://127.0.0.1:{srv.port}"
    assert backend.calls == []
    assert srv._httpd.plain_http_refused == 1


def test_a_change_over_https_needs_a_client_certificate_and_the_token(serve, pki):
    srv, backend = serve(VerifyClient.OPTIONAL)
    no_cert = client_context(pki.ca)
    with_cert = client_context(pki.ca, *pki.client)
    status, answer = call(srv.port, no_cert, "POST", "/switchover", {"leader": 2}, token=TOKEN)
    assert status == 403 and "needs a client certificate" in answer["error"] and "none was presented" in answer["error"]
    status, answer = call(srv.port, with_cert, "POST", "/switchover", {"leader": 2})
    assert status == 401 and "none was sent" in answer["error"]
    assert backend.calls == []
    assert call(srv.port, with_cert, "POST", "/switchover", {"leader": 2}, token=TOKEN) == (200, {"leader": 2})
    assert backend.calls == [("switchover", {"leader": 2})]
    # Reads need neither.
    assert call(srv.port, no_cert, "GET", "/members")[0] == 200


def test_verify_client_required_refuses_a_read_without_a_certificate(serve, pki):
    srv, _backend = serve(VerifyClient.REQUIRED)
    # TLS 1.3 sends the refusal after the client's handshake has finished: it comes with the first read.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        call(srv.port, client_context(pki.ca))
    assert call(srv.port, client_context(pki.ca, *pki.client))[0] == 200
    assert srv._httpd.handshakes_failed >= 1


@pytest.mark.parametrize("verify", [VerifyClient.OPTIONAL, VerifyClient.REQUIRED])
def test_a_client_certificate_of_another_ca_fails_the_handshake(serve, pki, verify):
    srv, backend = serve(verify)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        call(srv.port, client_context(pki.ca, *pki.foreign_client), "POST", "/switchover", {"leader": 2}, token=TOKEN)
    assert backend.calls == []


def test_verify_client_none_asks_for_no_certificate_and_a_change_needs_the_token_only(serve, pki):
    srv, backend = serve(VerifyClient.NONE)
    context = client_context(pki.ca)
    assert call(srv.port, context, "POST", "/switchover", {"leader": 2})[0] == 401
    assert call(srv.port, context, "POST", "/switchover", {"leader": 2}, token=TOKEN) == (200, {"leader": 2})
    assert backend.calls == [("switchover", {"leader": 2})]


def test_the_server_takes_tls_1_2_or_later_only(pki):
    context = server_context(*pki.node, pki.ca, VerifyClient.OPTIONAL)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert client_context(pki.ca).minimum_version == ssl.TLSVersion.TLSv1_2


def test_a_client_that_connects_and_sends_nothing_does_not_hold_up_the_next(serve, pki, monkeypatch):
    # The handshake is a worker's job, bounded by the request timeout; the accepting thread
    # only queues the connection. Two workers: one is held by the silent client, the other answers.
    monkeypatch.setattr(api_server, "WORKERS", 2)
    monkeypatch.setattr(api_server._Handler, "timeout", 5.0)
    srv, _backend = serve()
    silent = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        time.sleep(0.2)  # a worker has taken the silent connection and waits for its handshake
        started = time.monotonic()
        assert call(srv.port, client_context(pki.ca))[0] == 200
        assert time.monotonic() - started < 2.0
        # The silent client is let go once the timeout has passed.
        silent.settimeout(10)
        assert silent.recv(100) == b""
    finally:
        silent.close()
    assert srv._httpd.handshakes_failed == 1


def test_listeners_https_on_the_node_address_and_plain_http_on_loopback(pki):
    context = server_context(*pki.node, pki.ca, VerifyClient.OPTIONAL)

    class Tls:
        server = context

    assert listeners("10.0.0.5", 8080, None) == [("0.0.0.0", 8080, None)]
    assert listeners("10.0.0.5", 8080, Tls) == [("10.0.0.5", 8080, context), ("127.0.0.1", 8080, None)]
    assert listeners("127.0.0.29", 8080, Tls) == [("127.0.0.29", 8080, context), ("127.0.0.1", 8080, None)]
    # The node's address is loopback's own: one socket, HTTPS, as the other members reach it.
    assert listeners("127.0.0.1", 8080, Tls) == [("127.0.0.1", 8080, context)]


def test_a_tls_client_that_leaves_mid_request_logs_no_traceback(serve, pki, caplog, capsys):
    caplog.set_level(logging.DEBUG, logger="qluster_agent.api.server")
    srv, _backend = serve()
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    conn = client_context(pki.ca).wrap_socket(raw, server_hostname="127.0.0.1")
    conn.sendall(b"GET /map HTTP/1.1\r\nHost: x\r\n")  # the headers never end
    raw_fd = conn.detach()  # close the TCP connection without TLS's close_notify
    socket.socket(fileno=raw_fd).close()
    deadline = time.monotonic() + 10
    while not any("closed the connection early" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        time.sleep(0.05)  # until the worker has met the end of the connection
    assert call(srv.port, client_context(pki.ca))[0] == 200
    assert "Traceback" not in capsys.readouterr().err
    assert not [r for r in caplog.records if r.exc_info or r.levelno > logging.DEBUG]
