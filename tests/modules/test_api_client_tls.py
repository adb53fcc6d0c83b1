"""module_utils' client against the agent's own API server over HTTPS (a throwaway CA made with
the openssl command), and the token and TLS files taken from the agent's config file."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_api import (
    QlusterApi, QlusterApiError, api_argument_spec, read_agent_config)

from qluster_agent.api.router import Router
from qluster_agent.api.server import ApiServer
from qluster_agent.api.tls import server_context
from qluster_agent.config.model import VerifyClient

AGENT_TESTS = Path(__file__).resolve().parents[2] / "files" / "qluster_agent" / "tests"
TOKEN = "module-tls-token-0123456789"


def _load_pki_helper():
    spec = importlib.util.spec_from_file_location("qluster_test_pki", AGENT_TESTS / "pki.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    helper = _load_pki_helper()
    if not helper.openssl_works():
        pytest.skip("needs the openssl command to make certificates")
    return helper.make_pki(tmp_path_factory.mktemp("pki"))


class Backend:
    """What the router needs of an agent, recording changes."""

    def __init__(self):
        self.calls = []

    def cluster_map(self):
        return {"leader": 1, "members": []}

    def update_config(self, body):
        self.calls.append(("update_config", body))
        return body

    add_member = switchover = reinit = pause = resume = restart = reload = update_config


@pytest.fixture
def serve(pki):
    started = []

    def start(verify):
        backend = Backend()
        router = Router(backend, token=TOKEN, client_cert_for_changes=verify is not VerifyClient.NONE)
        server = ApiServer(router, "127.0.0.1", 0, server_context(*pki.node, pki.ca, verify)).start()
        started.append(server)
        return f"https://127.0.0.1:{server.port}", backend

    yield start
    for server in started:
        server.close()


class FakeModule:
    def __init__(self, **params):
        defaults = {name: spec.get("default") for name, spec in api_argument_spec().items()}
        self.params = {**defaults, **params}

    def fail_json(self, **kwargs):
        raise AssertionError(kwargs["msg"])


def test_client_cert_and_key_make_a_change_over_https(serve, pki):
    url, backend = serve(VerifyClient.OPTIONAL)
    certfile, keyfile = pki.client
    with pytest.raises(QlusterApiError) as refused:
        QlusterApi(url, token=TOKEN, ca_path=pki.ca).post("/config", {"node-timeout": "5s"})
    assert refused.value.status == 403 and "client certificate" in str(refused.value)
    api = QlusterApi(url, token=TOKEN, ca_path=pki.ca, client_cert=certfile, client_key=keyfile)
    assert api.post("/config", {"node-timeout": "5s"}) == {"node-timeout": "5s"}
    assert backend.calls == [("update_config", {"node-timeout": "5s"})]
    # Another member's API keeps the certificate.
    other = api.for_member("127.0.0.1", url.rsplit(":", 1)[1])
    assert (other.client_cert, other.client_key) == (certfile, keyfile) and other.base_url == url


def test_verify_client_required_needs_the_client_cert_for_a_read(serve, pki):
    url, _backend = serve(VerifyClient.REQUIRED)
    with pytest.raises(QlusterApiError, match="cannot reach the agent"):
        QlusterApi(url, ca_path=pki.ca, retries=0).get("/map")
    certfile, keyfile = pki.client
    assert QlusterApi(url, ca_path=pki.ca, client_cert=certfile, client_key=keyfile).get("/map")["leader"] == 1


def write_agent_config(tmp_path, pki=None, **keys) -> str:
    path = tmp_path / "config.yaml"
    document = {"ip": "10.0.0.1", **keys}
    if pki is not None:
        certfile, keyfile = pki.node
        document.update({"api-certfile": certfile, "api-keyfile": keyfile, "api-cafile": pki.ca})
    path.write_text("\n".join(f"{key}: {json.dumps(value)}" for key, value in document.items()) + "\n")
    return str(path)


def test_the_token_comes_from_the_agent_config_when_not_given(tmp_path):
    token_file = tmp_path / "api-token"
    token_file.write_text(TOKEN + "\n")
    config = write_agent_config(tmp_path, **{"api-token-file": str(token_file)})
    assert QlusterApi.from_module(FakeModule(agent_config=config)).token == TOKEN
    assert QlusterApi.from_module(FakeModule(agent_config=config, api_token="given-token-0123456789")).token \
        == "given-token-0123456789"
    assert QlusterApi.from_module(FakeModule(agent_config=str(tmp_path / "absent.yaml"))).token is None
    assert QlusterApi.from_module(FakeModule(agent_config="")).token is None
    inline = write_agent_config(tmp_path, **{"api-token": "inline-token-0123456789"})
    assert QlusterApi.from_module(FakeModule(agent_config=inline)).token == "inline-token-0123456789"


def test_on_a_node_with_tls_the_agent_config_gives_the_certificates_and_members_are_https(serve, pki, tmp_path):
    url, backend = serve(VerifyClient.OPTIONAL)
    config = write_agent_config(tmp_path, pki, **{"api-token": TOKEN})
    # The default api_url is the plain loopback listener; other members are reached over HTTPS.
    local = QlusterApi.from_module(FakeModule(agent_config=config))
    assert local.base_url == "http://127.0.0.1:8080"
    member = local.for_member("10.0.0.2", 8080)
    assert member.base_url == "https://10.0.0.2:8080"
    assert (member.ca_path, member.client_cert, member.client_key) == (pki.ca, *pki.node)
    # An https:// api_url takes the CA and the node's own certificate from the config.
    api = QlusterApi.from_module(FakeModule(agent_config=config, api_url=url))
    assert api.post("/config", {"node-timeout": "5s"}) == {"node-timeout": "5s"}
    assert backend.calls == [("update_config", {"node-timeout": "5s"})]


def test_the_agent_config_is_read_without_pyyaml_too(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    path.write_text("ip: 10.0.0.1\napi-token-file: '/etc/qluster/api-token'   # the role writes it\n"
                    "udp:\n  peers: []\napi-certfile: /etc/qluster/tls/node.pem\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml raises ImportError
    assert read_agent_config(str(path)) == {"ip": "10.0.0.1", "api-token-file": "/etc/qluster/api-token",
                                            "api-certfile": "/etc/qluster/tls/node.pem"}
    path.write_text(json.dumps({"ip": "10.0.0.1", "api-token": TOKEN}))
    assert read_agent_config(str(path)) == {"ip": "10.0.0.1", "api-token": TOKEN}
