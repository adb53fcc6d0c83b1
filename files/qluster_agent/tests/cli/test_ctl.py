"""qlusterctl against a real API server (with a recording backend behind it)."""

from __future__ import annotations

import json

import pytest

from qluster_agent.api.router import Router
from qluster_agent.api.server import ApiServer
from qluster_agent.cli.ctl import main, parse_settings

from ..api.fakes import RecordingBackend


class MapBackend(RecordingBackend):
    def cluster_map(self):
        return {"leader": 2, "term": 7, "members": [
            {"id": 1, "name": "qluster-01", "address": "10.0.0.1", "role": "follower", "state": "healthy",
             "db_role": "replica", "streaming": True, "wal_position": "0/3000060", "lag_bytes": 2048},
            {"id": 2, "name": "qluster-02", "address": "10.0.0.2", "role": "leader", "state": "healthy",
             "db_role": "primary", "streaming": False, "wal_position": "0/3000060", "lag_bytes": 0},
        ]}


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
    assert lines[0].split() == ["ID", "NAME", "ADDRESS", "ROLE", "STATE", "DB", "STREAMING", "WAL", "LAG"]
    assert lines[1].split()[:6] == ["1", "qluster-01", "10.0.0.1", "follower", "healthy", "replica"]
    assert "2.0 kB" in lines[1]
    assert "leader: 2   term: 7" in out


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
