"""The API socket refuses connections until it answers, and a client that leaves early is no fault."""

from __future__ import annotations

import http.client
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable

import pytest

from qluster_agent.api.router import Request, Response, Router
from qluster_agent.api.server import ApiServer

from .fakes import RecordingBackend

pytestmark = pytest.mark.timeout(30)  # a close() that waits for a server never started hangs


def poll(predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def get_status(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/map")
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_the_port_refuses_connections_until_start():
    server = ApiServer(Router(RecordingBackend()), "127.0.0.1", 0)
    try:
        assert server.port > 0  # bound: the port is ours
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        server.start()
        assert get_status(server.port) == 200
    finally:
        server.close()


def test_a_port_in_use_fails_before_start():
    first = ApiServer(Router(RecordingBackend()), "127.0.0.1", 0).start()
    try:
        with pytest.raises(OSError):
            ApiServer(Router(RecordingBackend()), "127.0.0.1", first.port)
        assert get_status(first.port) == 200
    finally:
        first.close()


def test_a_server_never_started_closes():
    server = ApiServer(Router(RecordingBackend()), "127.0.0.1", 0)
    port = server.port
    server.close()
    # The port is free again.
    ApiServer(Router(RecordingBackend()), "127.0.0.1", port).close()


class GatedRouter:
    """Holds each request until the test opens the gate."""

    def __init__(self) -> None:
        self.router = Router(RecordingBackend())
        self.entered = threading.Event()
        self.gate = threading.Event()

    def handle(self, request: Request) -> Response:
        self.entered.set()
        self.gate.wait(10)
        return self.router.handle(request)


def test_a_client_leaving_before_its_answer_logs_no_traceback(caplog, capsys):
    caplog.set_level(logging.DEBUG, logger="qluster_agent.api.server")
    router = GatedRouter()
    server = ApiServer(router, "127.0.0.1", 0).start()
    errors: list[str] = []

    def settled() -> bool:
        errors.append(capsys.readouterr().err)
        return "Traceback" in "".join(errors) or any("closed the connection early" in r.getMessage()
                                                     for r in caplog.records)

    try:
        client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        client.sendall(b"GET /map HTTP/1.1\r\nHost: qluster\r\n\r\n")
        assert router.entered.wait(5)
        # Like a health checker that timed out: gone, with a reset, before the answer.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        router.gate.set()
        poll(settled)
        # The server goes on answering others.
        assert get_status(server.port) == 200
    finally:
        router.gate.set()
        server.close()
    errors.append(capsys.readouterr().err)
    assert "Traceback" not in "".join(errors)
    assert not [r for r in caplog.records if r.exc_info or r.levelno > logging.DEBUG]
    assert len([r for r in caplog.records if "closed the connection early" in r.getMessage()]) == 1
