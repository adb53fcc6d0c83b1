"""`qluster` with api-certfile: HTTPS on the node's address, plain HTTP on 127.0.0.1, and a TLS
file that cannot be used stops it with one line naming the key."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import ssl
import subprocess
import time

import pytest

from qluster_agent.api.tls import client_context

from .test_main_api_listen import SECRET, agent_argv, agent_env, free_port

IP = "127.0.0.29"  # a loopback address other than 127.0.0.1 (tests/pki.py puts it in the node certificate)
TOKEN = "main-tls-test-token-0123456789"


def write_config(tmp_path, pki, api_port: int, **extra) -> str:
    udp_port = free_port(socket.SOCK_DGRAM, IP)
    certfile, keyfile = pki.node
    config = tmp_path / "config.yaml"
    # With the marker it waits to be added to a cluster: no initdb (as root, without run-as,
    # it would fail and log why), and nothing but the API to look at.
    marker = tmp_path / "add_node"
    marker.touch()
    config.write_text(json.dumps({
        "ip": IP, "api-port": api_port, "secret": SECRET, "data-dir": str(tmp_path / "raft"),
        "hello-retry-interval": "200ms", "api-token": TOKEN,
        "api-certfile": certfile, "api-keyfile": keyfile, "api-cafile": pki.ca,
        "udp": {"socket": {"group": f"239.0.0.1:{udp_port}"}, "peers": [f"{IP}:{udp_port}"]},
        "postgres": {"bin-dir": "/usr/lib/postgresql/15/bin", "add-node-marker": str(marker)}, **extra,
    }))
    return str(config)


def ask(host: str, port: int, context: ssl.SSLContext | None, method: str = "GET", path: str = "/health",
        body: bytes | None = None) -> tuple[int, dict]:
    if context is None:
        conn = http.client.HTTPConnection(host, port, timeout=5)
    else:
        conn = http.client.HTTPSConnection(host, port, timeout=5, context=context)
    try:
        conn.request(method, path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else {}
    finally:
        conn.close()


@pytest.mark.timeout(90)
def test_https_on_the_node_address_and_plain_http_on_loopback(tmp_path, pki):
    api_port = free_port(socket.SOCK_STREAM, "127.0.0.1")
    log_path = tmp_path / "agent.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(agent_argv(write_config(tmp_path, pki, api_port)), env=agent_env(tmp_path),
                                stdout=log, stderr=subprocess.STDOUT)
    https = client_context(pki.ca)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                status, _answer = ask(IP, api_port, https)
                break
            except OSError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)  # the agent opens its API once its consensus has started
        assert status in (200, 503)  # answered over HTTPS (503: no database here)
        assert ask("127.0.0.1", api_port, None, path="/map")[0] == 200  # the seed's curl on the node
        # Plain HTTP to the node's address, and HTTPS to the loopback listener, are refused.
        status, answer = ask(IP, api_port, None, path="/map")
        assert status == 400 and "speaks HTTPS" in answer["error"]
        with pytest.raises(ssl.SSLError):
            ask("127.0.0.1", api_port, https, path="/map")
        # A change: over HTTPS it needs a client certificate; on loopback, the token (a token is
        # configured and api-trust-loopback is left at its default, false).
        status, answer = ask(IP, api_port, https, "POST", "/config", b"{}")
        assert status == 403 and "client certificate" in answer["error"]
        status, answer = ask("127.0.0.1", api_port, None, "POST", "/config", b"{}")
        assert status == 401 and "Authorization: Bearer" in answer["error"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    output = log_path.read_text()
    assert f"API on https://{IP}:{api_port}, http://127.0.0.1:{api_port}" in output
    assert "Traceback" not in output


@pytest.mark.timeout(60)
def test_a_key_that_is_not_the_certificates_stops_the_agent_with_one_line(tmp_path, pki):
    config = write_config(tmp_path, pki, free_port(socket.SOCK_STREAM, "127.0.0.1"),
                          **{"api-keyfile": pki.client[1]})
    proc = subprocess.run(agent_argv(config), env=agent_env(tmp_path), capture_output=True, text=True,
                          timeout=50, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"qluster: config error: api-keyfile: {pki.client[1]!r} is not the key of the certificate in {pki.node[0]!r}")
    assert not (tmp_path / "raft").exists()


@pytest.mark.timeout(60)
def test_a_loopback_port_in_use_stops_the_agent_naming_the_address(tmp_path, pki):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(agent_argv(write_config(tmp_path, pki, port)), env=agent_env(tmp_path),
                              capture_output=True, text=True, timeout=50, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"qluster: cannot bind the API port {port} on 127.0.0.1: Address already in use")
