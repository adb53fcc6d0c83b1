"""The API on a fixed pool of threads: no thread per connection, and every client bounded."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from qluster_agent.api import server as api_server
from qluster_agent.api.router import Router
from qluster_agent.api.server import ApiServer

from .fakes import RecordingBackend


@pytest.fixture
def serve():
    started = []

    def start() -> ApiServer:
        srv = ApiServer(Router(RecordingBackend()), "127.0.0.1", 0).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.close()


def ask(port: int, raw: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(raw)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        return answer


def test_requests_start_no_thread(serve, monkeypatch):
    # Starting a thread takes the GIL across the kernel's clone, which a cgroup change elsewhere
    # on the host can hold up: every thread of the agent, the consensus loop's too, waited.
    served_by = []
    original = api_server._Handler.handle

    def handle(handler):
        served_by.append(threading.current_thread().name)
        original(handler)

    monkeypatch.setattr(api_server._Handler, "handle", handle)
    srv = serve()
    for _number in range(30):
        assert ask(srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200")
    assert len(served_by) == 30
    assert set(served_by) <= {f"api-{number}" for number in range(api_server.WORKERS)}


@pytest.mark.parametrize("length", [b"-1", b"abc", b"99999999999999999999"])
def test_a_content_length_that_is_no_byte_count_is_refused_at_once(serve, length):
    # -1 used to read the body until the client closed: memory and a worker, for anyone.
    srv = serve()
    started = time.monotonic()
    answer = ask(srv.port, b"POST /config HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}",
                 timeout=5)
    assert answer.startswith(b"HTTP/1.1 400") or answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 3


def test_idle_connections_beyond_the_pool_and_its_queue_are_closed_and_answers_go_on(serve, monkeypatch):
    monkeypatch.setattr(api_server, "WORKERS", 2)
    monkeypatch.setattr(api_server, "BACKLOG", 2)
    monkeypatch.setattr(api_server._Handler, "timeout", 1.0)
    srv = serve()
    idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _number in range(6)]
    try:
        # Two held by the workers, two waiting: the last two are closed without an answer.
        for conn in idle[4:]:
            assert conn.recv(100) == b""
        # The workers give up on clients that send nothing (1 s each here), so others are
        # answered again once the queue has room.
        deadline = time.monotonic() + 10
        answer = b""
        while not answer.startswith(b"HTTP/1.1 200") and time.monotonic() < deadline:
            answer = ask(srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
            time.sleep(0.05)  # poll interval while the workers time their idle clients out
        assert answer.startswith(b"HTTP/1.1 200")
        assert srv._httpd.turned_away >= 2
    finally:
        for conn in idle:
            conn.close()


def test_deeply_nested_json_is_refused_with_400_not_a_traceback(serve):
    # json.loads raises RecursionError (not ValueError) past the interpreter's depth: the
    # connection used to end with no answer and a traceback in the log.
    srv = serve()
    body = b"[" * 200000 + b"]" * 200000
    answer = ask(srv.port, b"POST /config HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"nested too deeply" in answer
