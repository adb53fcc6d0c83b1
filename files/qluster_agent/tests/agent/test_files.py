"""build_agent / load_agent: every file the agent needs is read before it is built, and whatever
is wrong comes out as one SetupError (main.py catches that one type)."""

from __future__ import annotations

import json

import pytest

from qluster_agent.agent.files import SetupError, build_agent, load_agent
from qluster_agent.config.loader import load_config

SECRET = "agent-test-secret-0123456789"


def write_config(tmp_path, **postgres) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps({"ip": "127.0.0.9", "secret": SECRET, "data-dir": str(tmp_path / "raft"),
                                "postgres": {"bin-dir": "/usr/lib/postgresql/15/bin", **postgres}}))
    return str(path)


@pytest.mark.parametrize("postgres, environ, names", [
    pytest.param({}, {}, "PGDATA is not set", id="env"),
    pytest.param({"flavor": "qhb"}, {"PGDATA": "/nonexistent/pg"}, "postgres.flavor: unknown key", id="postgres key"),
    pytest.param({"bin-dir": "/nonexistent/bin"}, {"PGDATA": "/nonexistent/pg"}, "/nonexistent/bin", id="bin dir"),
    pytest.param({"password-file": "relative"}, {"PGDATA": "/nonexistent/pg"}, "postgres.password-file",
                 id="password file"),
])
def test_every_setup_problem_is_one_setup_error(tmp_path, postgres, environ, names) -> None:
    with pytest.raises(SetupError, match=names):
        load_agent(write_config(tmp_path, **postgres), environ)


def test_a_config_error_is_a_setup_error(tmp_path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps({"ip": "127.0.0.9", "secret": SECRET, "cluster": {"node-timeout": "soon"}}))
    with pytest.raises(SetupError, match="cluster.node-timeout"):
        load_agent(str(path), {"PGDATA": "/nonexistent/pg"})


def test_a_voting_node_without_its_env_is_refused(tmp_path) -> None:
    with pytest.raises(SetupError, match="needs the env file"):
        build_agent(load_config(write_config(tmp_path)), None)


def test_the_agent_is_built_without_touching_its_state_directory(tmp_path) -> None:
    agent = load_agent(write_config(tmp_path), {"PGDATA": str(tmp_path / "pg")})
    assert agent.forward_key == SECRET.encode() and agent.pg is not None
    assert not (tmp_path / "raft").exists()
