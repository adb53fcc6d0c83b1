"""`qluster` refuses API connections until it answers them (issue 22, item 6).

A new node waits a discovery window in agent.start() before it can answer. A socket listening
meanwhile accepts health checkers' connections and leaves them to time out, and answers them
once they are gone (BrokenPipeError tracebacks in the log); refused, they know at once.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time

import pytest

SECRET = "agent-test-secret-0123456789"
IP = "127.0.0.29"
# The discovery window is twice the hello interval: long enough to be seen from outside.
HELLO_INTERVAL = "2s"
# A listed peer that never answers: the node listens its whole window (one that hears every
# listed peer announce itself as a newcomer stops listening at once: agent/first_start.py).
SILENT_PEER = "127.0.0.30"
# Well above what answering takes, well below the window.
CLIENT_TIMEOUT_S = 1.5


def free_port(kind: int, host: str) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def try_health(port: int) -> int | str:
    """The HTTP status of GET /health, or the name of the error that came instead."""
    conn = http.client.HTTPConnection(IP, port, timeout=CLIENT_TIMEOUT_S)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError as exc:
        return type(exc).__name__
    finally:
        conn.close()


def write_config(tmp_path, api_port: int) -> str:
    udp_port = free_port(socket.SOCK_DGRAM, IP)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "ip": IP, "api-port": api_port, "secret": SECRET, "data-dir": str(tmp_path / "raft"),
        "hello-retry-interval": HELLO_INTERVAL,
        "udp": {"socket": {"group": f"239.0.0.1:{udp_port}"}, "peers": [f"{IP}:{udp_port}", f"{SILENT_PEER}:{udp_port}"]},
        "postgres": {"bin-dir": "/usr/lib/postgresql/15/bin"},
    }))
    return str(config)


def agent_argv(config: str) -> list[str]:
    return [sys.executable, "-m", "qluster_agent.main", "--config", config]


def agent_env(tmp_path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "PGDATA": str(tmp_path / "pg")}


@pytest.mark.timeout(60)
def test_an_api_port_in_use_stops_the_agent_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(agent_argv(write_config(tmp_path, port)), env=agent_env(tmp_path),
                              capture_output=True, text=True, timeout=50, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == f"qluster: cannot bind the API port {port}: Address already in use"
    assert "Traceback" not in proc.stderr
    # Stopped before it started: no consensus state, no node announced.
    assert not (tmp_path / "raft").exists()


@pytest.mark.timeout(90)
def test_the_api_refuses_connections_until_the_agent_answers(tmp_path):
    api_port = free_port(socket.SOCK_STREAM, "0.0.0.0")
    config = write_config(tmp_path, api_port)
    log_path = tmp_path / "agent.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(agent_argv(config), env=agent_env(tmp_path), stdout=log, stderr=subprocess.STDOUT)
    outcomes: list[int | str] = []
    try:
        deadline = time.monotonic() + 30
        while not outcomes or isinstance(outcomes[-1], str):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, f"no answer from the API: {outcomes[-5:]}"
            outcomes.append(try_health(api_port))
            time.sleep(0.05)  # pace the polling
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    errors = [o for o in outcomes if isinstance(o, str)]
    # It was seen before it answered, and was refused then, never left hanging.
    assert errors and set(errors) == {"ConnectionRefusedError"}, outcomes
    output = log_path.read_text()
    assert "Exception occurred during processing of request" not in output
    assert "BrokenPipeError" not in output and "ConnectionResetError" not in output
