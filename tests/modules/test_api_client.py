"""The API client against a small real HTTP server on loopback: token, retries on 503 (bounded),
errors that name the URL, the status and the agent's message."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_api import QlusterApi, QlusterApiError


class Agent(BaseHTTPRequestHandler):
    """Answers from ``server.script``: path -> list of (status, body), the last one repeating."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
        answers = self.server.script.get((self.command, self.path), [(404, {"error": "no such endpoint"})])
        status, payload = answers.pop(0) if len(answers) > 1 else answers[0]
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def agent():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Agent)
    server.script = {}
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client(server, **kwargs):
    sleeps = []
    api = QlusterApi(f"http://127.0.0.1:{server.server_address[1]}/", sleep=sleeps.append, **kwargs)
    return api, sleeps


def test_token_and_json_body(agent):
    agent.script[("POST", "/config")] = [(200, {"node-timeout": "5s"})]
    api, _sleeps = client(agent, token="t0ken-t0ken-t0ken")
    assert api.post("/config", {"node-timeout": "5s"}) == {"node-timeout": "5s"}
    method, path, auth, body = agent.seen[0]
    assert (method, path, auth) == ("POST", "/config", "Bearer t0ken-t0ken-t0ken")
    assert json.loads(body) == {"node-timeout": "5s"}


def test_another_members_agent_keeps_the_token_and_is_not_retried(agent):
    agent.script[("GET", "/map")] = [(503, {"error": "the agent is starting"}), (200, {"leader": 1})]
    first = QlusterApi("http://10.0.0.1:8080", token="t0ken-t0ken-t0ken", retries=5)
    other = first.for_member("127.0.0.1", agent.server_address[1])
    with pytest.raises(QlusterApiError) as caught:
        other.get("/map")
    assert caught.value.status == 503 and len(agent.seen) == 1
    assert agent.seen[0][2] == "Bearer t0ken-t0ken-t0ken"
    assert first.for_member("fd00::2", 8080).base_url == "http://[fd00::2]:8080"


def test_503_is_retried_a_bounded_number_of_times(agent):
    agent.script[("GET", "/map")] = [(503, {"error": "the agent is starting"}), (503, {"error": "starting"}),
                                     (200, {"leader": 1})]
    api, sleeps = client(agent, retries=5, retry_delay=0.5)
    assert api.get("/map") == {"leader": 1}
    assert sleeps == [0.5, 0.5]

    agent.script[("POST", "/config")] = [(503, {"error": "the change was not committed within 10 s (no quorum?)"})]
    api, sleeps = client(agent, retries=2)
    with pytest.raises(QlusterApiError) as caught:
        api.post("/config", {})
    assert len(sleeps) == 2
    text = str(caught.value)
    assert f"POST http://127.0.0.1:{agent.server_address[1]}/config returned HTTP 503" in text
    assert "no quorum?" in text and "after 3 attempts" in text


def test_other_errors_are_not_retried_and_carry_the_details(agent):
    agent.script[("POST", "/config")] = [(400, {"error": "invalid configuration; nothing was changed",
                                                "details": ["node-timout: unknown key"]})]
    api, sleeps = client(agent)
    with pytest.raises(QlusterApiError) as caught:
        api.post("/config", {"node-timout": "5s"})
    assert sleeps == []
    assert caught.value.status == 400
    assert "HTTP 400: invalid configuration; nothing was changed (node-timout: unknown key)" in str(caught.value)


def test_member_in_a_path_is_quoted(agent):
    agent.script[("DELETE", "/members/qluster%2003")] = [(409, {"error": "refusing to remove node 3"})]
    api, _sleeps = client(agent)
    with pytest.raises(QlusterApiError, match="DELETE .*/members/qluster%2003 returned HTTP 409: refusing"):
        api.delete("/members/%s", "qluster 03")


def test_accepted_error_status_returns_the_body(agent):
    agent.script[("GET", "/health")] = [(503, {"ok": False, "state": {"pg_running": False}})]
    api, sleeps = client(agent)
    assert api.request("GET", "/health", accept=(200, 503)) == (503, {"ok": False, "state": {"pg_running": False}})
    assert sleeps == []


def test_unreachable_agent(agent):
    port = agent.server_address[1]
    agent.shutdown()
    agent.server_close()
    api, sleeps = client(agent, retries=1)
    with pytest.raises(QlusterApiError, match=f"GET http://127.0.0.1:{port}/map failed: cannot reach the agent"):
        api.get("/map")
    assert len(sleeps) == 1
    api, sleeps = client(agent, retries=3)
    with pytest.raises(QlusterApiError, match="cannot reach the agent"):
        api.post("/members", {})
    assert sleeps == []  # a change is never sent twice


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://host/", ""])
def test_bad_urls(url):
    with pytest.raises(ValueError, match="api_url"):
        QlusterApi(url)


@pytest.fixture
def tls_agent(agent, tmp_path):
    """The same server behind TLS, with a self-signed certificate for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a certificate")
    cert, key = tmp_path / "agent.pem", tmp_path / "agent.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    agent.socket = context.wrap_socket(agent.socket, server_side=True)
    agent.script[("GET", "/map")] = [(200, {"leader": 1})]
    return agent, cert


def test_tls_verification(tls_agent):
    agent, cert = tls_agent
    url = f"https://127.0.0.1:{agent.server_address[1]}"
    with pytest.raises(QlusterApiError, match=f"GET {url}/map failed: cannot reach the agent: .*CERTIFICATE_VERIFY_FAILED"):
        QlusterApi(url, retries=0).get("/map")
    assert QlusterApi(url, ca_path=str(cert)).get("/map") == {"leader": 1}
    assert QlusterApi(url, validate_certs=False).get("/map") == {"leader": 1}
