"""qlusterctl against a real API server (with a recording backend behind it)."""

from __future__ import annotations

import json

import pytest

from qluster_agent.api.router import Router
from qluster_agent.api.server import ApiServer
from qluster_agent.api.tls import server_context
from qluster_agent.cli.ctl import main, parse_settings
from qluster_agent.api.map_member import MapMember
from qluster_agent.cli.view import header, row
from qluster_agent.config.model import VerifyClient

from ..api.fakes import RecordingBackend


class MapBackend(RecordingBackend):
    """Two members; a switchover hands leadership over at once."""

    def __init__(self) -> None:
        super().__init__()
        self.leader = 2

    def cluster_map(self):
        def row(node_id, lag):
            leads = node_id == self.leader
            return {"id": node_id, "name": f"qluster-0{node_id}", "address": f"10.0.0.{node_id}", "db_port": 5432,
                    "role": "leader" if leads else "follower", "state": "healthy",
                    "db_role": "primary" if leads else "replica", "timeline": 3, "streaming": not leads,
                    "wal_position": "0/3000060", "lag_bytes": 0 if leads else lag}
        return {"cluster_id": "qc", "leader": self.leader, "term": 7, "members": [row(1, 2048), row(2, 4096)]}

    def switchover(self, body):
        self.calls.append(("switchover", body))
        self.leader = int(body["leader"])
        return {"message": f"switchover to node {self.leader} started", "leader": self.leader}


@pytest.fixture
def api():
    backend = MapBackend()
    server = ApiServer(Router(backend), "127.0.0.1", 0).start()
    yield backend, f"http://127.0.0.1:{server.port}"
    server.close()


def run(capsys, *argv):
    code = main(["--config", "/nonexistent", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_prints_a_table_with_the_leader(api, capsys):
    _backend, url = api
    code, out, _err = run(capsys, "--api", url, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "cluster qc   leader qluster-02 (node 2)   term 7"
    assert lines[2].split() == ["ID", "NAME", "ADDRESS", "ROLE", "STATE", "DB", "TL", "STREAMING", "WAL", "LAG"]
    assert lines[3].split() == ["1", "qluster-01", "10.0.0.1", "follower", "healthy", "replica", "3", "yes",
                                "0/3000060", "2.0", "kB"]
    # The leader streams to the others: not "no", and no lag of its own.
    assert lines[4].split() == ["2", "qluster-02", "10.0.0.2", "leader", "healthy", "primary", "3", "leader",
                                "0/3000060", "-"]


def test_list_marks_a_member_whose_database_waits_for_a_restart() -> None:
    member = {"id": 1, "name": "qluster-01", "address": "10.0.0.1", "db_port": 5432, "role": "follower",
              "state": "healthy", "db_role": "replica", "pending_restart": True}
    assert row(MapMember.from_json(member))[4] == "healthy, restart pending"
    assert row(MapMember.from_json({**member, "pending_restart": None}))[4] == "healthy"  # an older agent


def test_config_set_sends_typed_values(api, capsys):
    backend, url = api
    code, out, _err = run(capsys, "--api", url, "config", "set", "node-timeout=5s")
    assert code == 0
    assert json.loads(out) == {"node-timeout": "5s"}
    assert backend.calls == [("update_config", {"node-timeout": "5s"})]


def test_config_set_shows_every_error(api, capsys):
    _backend, url = api
    code, _out, err = run(capsys, "--api", url, "config", "set", "bogus=1", "other=x")
    assert code == 1
    assert "HTTP 400" in err
    assert "- bogus: unknown key" in err and "- other: unknown key" in err


def test_reinit_needs_confirmation(api, capsys):
    backend, url = api
    code, _out, err = run(capsys, "--api", url, "reinit", "qluster-03")
    assert code == 2
    assert "--yes" in err
    assert backend.calls == []
    assert run(capsys, "--api", url, "reinit", "qluster-03", "--yes")[0] == 0
    assert backend.calls == [("reinit", {"member": "qluster-03"})]


def test_unreachable_agent_is_one_line(capsys):
    code, _out, err = run(capsys, "--api", "http://127.0.0.1:9", "list")
    assert code == 1
    assert err.startswith("qlusterctl: cannot reach the agent at http://127.0.0.1:9")
    assert "Traceback" not in err


def test_parse_settings_types():
    assert parse_settings(["a=true", "b=3", "c=5s"]) == {"a": True, "b": 3, "c": "5s"}


# --------------------------------------------------------------------------- HTTPS
TOKEN = "ctl-test-token-0123456789"


@pytest.fixture
def https_api(pki):
    """An HTTPS agent API (client certificates optional, a token configured) on 127.0.0.1."""
    backend = MapBackend()
    router = Router(backend, token=TOKEN, client_cert_for_changes=True)
    server = ApiServer(router, "127.0.0.1", 0, server_context(*pki.node, pki.ca, VerifyClient.OPTIONAL)).start()
    yield backend, server.port
    server.close()


def write_agent_config(tmp_path, pki, port: int, **extra) -> str:
    certfile, keyfile = pki.node
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps({"ip": "10.0.0.1", "api-port": port, "api-token": TOKEN, "api-certfile": certfile,
                                "api-keyfile": keyfile, "api-cafile": pki.ca, **extra}))
    return str(path)


def test_cacert_reads_from_an_https_agent(https_api, pki, capsys):
    _backend, port = https_api
    url = f"https://127.0.0.1:{port}"
    code, out, _err = run(capsys, "--api", url, "--cacert", pki.ca, "list")
    assert code == 0 and "leader qluster-02 (node 2)   term 7" in out
    # Without the CA the agent's certificate is not trusted: one line, no traceback.
    code, _out, err = run(capsys, "--api", url, "list")
    assert code == 1 and "CERTIFICATE_VERIFY_FAILED" in err and "Traceback" not in err


def test_a_change_over_https_takes_the_client_certificate_and_the_token(https_api, pki, capsys):
    backend, port = https_api
    url = f"https://127.0.0.1:{port}"
    code, _out, err = run(capsys, "--api", url, "--cacert", pki.ca, "--token", TOKEN, "switchover", "--to", "1",
                          "--force")
    assert code == 1 and "HTTP 403" in err and "client certificate" in err
    certfile, keyfile = pki.client
    code, out, _err = run(capsys, "--api", url, "--cacert", pki.ca, "--cert", certfile, "--key", keyfile,
                          "--token", TOKEN, "switchover", "--to", "qluster-01", "--force")
    assert code == 0
    assert backend.calls == [("switchover", {"leader": 1})]
    assert "switchover done: qluster-01 (node 1) leads" in out


def test_the_tls_files_and_token_default_from_the_agents_config(https_api, pki, tmp_path, capsys):
    backend, port = https_api
    config = write_agent_config(tmp_path, pki, port)
    code = main(["--config", config, "--api", f"https://127.0.0.1:{port}", "config", "set", "node-timeout=5s"])
    assert code == 0, capsys.readouterr().err
    assert backend.calls == [("update_config", {"node-timeout": "5s"})]


def test_the_default_url_is_the_plain_loopback_listener_unless_the_node_address_is_loopback(
        https_api, pki, tmp_path, capsys):
    _backend, port = https_api
    # ip 10.0.0.1: http://127.0.0.1:<port>, the plain listener; here only HTTPS listens, so it fails
    # the way plain HTTP to an HTTPS socket does.
    code, _out, err = run_with(capsys, write_agent_config(tmp_path, pki, port), "list")
    assert code == 1 and "HTTP 400: this port speaks HTTPS" in err
    # ip 127.0.0.1: the node's one socket is HTTPS, so that is the default.
    code, out, _err = run_with(capsys, write_agent_config(tmp_path, pki, port, ip="127.0.0.1"), "list")
    assert code == 0 and "leader qluster-02 (node 2)" in out


def test_an_unusable_tls_file_is_named_by_its_option(pki, capsys):
    code, _out, err = run(capsys, "--api", "https://127.0.0.1:9", "--cacert", pki.path("node.key"), "list")
    assert code == 1
    assert err.strip() == f"qlusterctl: --cacert: {pki.path('node.key')!r} holds no PEM certificate"


def run_with(capsys, config: str, *argv):
    code = main(["--config", config, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_pause_resume_and_the_paused_header(api, capsys):
    backend, url = api
    code, out, _err = run(capsys, "--api", url, "pause")
    assert (code, out.strip()) == (0, "paused")
    code, out, _err = run(capsys, "--api", url, "resume")
    assert (code, out.strip()) == (0, "resumed")
    assert backend.calls == [("pause", {}), ("resume", {})]
    assert header({"cluster_id": "qc", "leader": None, "term": 3, "paused": True}) == (
        "cluster qc   leader none   term 3   PAUSED (maintenance mode: qlusterctl resume)")


def test_history_prints_one_row_per_leader_change(api, capsys):
    backend, url = api
    backend.history = lambda: {"history": [
        {"at": 0.0, "term": 1, "from": None, "to": 1, "to_name": "qluster-01", "reason": "initial"},
        {"at": 86400.0, "term": 4, "from": 1, "from_name": "qluster-01", "to": 2, "reason": "switchover"}]}
    code, out, _err = run(capsys, "--api", url, "history")
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["TIME", "(UTC)", "TERM", "FROM", "TO", "REASON"],
        ["1970-01-01", "00:00:00", "1", "-", "qluster-01", "(node", "1)", "initial"],
        ["1970-01-02", "00:00:00", "4", "qluster-01", "(node", "1)", "node", "2", "switchover"]]
    backend.history = lambda: {"history": []}
    assert run(capsys, "--api", url, "history")[1].strip() == "no leader change recorded yet"
