"""`qluster` refuses a bad config or env with one line naming the bad value, before any I/O."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SECRET = "agent-test-secret-0123456789"


def run_agent(tmp_path, config: dict, env: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    return subprocess.run([sys.executable, "-m", "qluster_agent.main", "--config", str(path)],
                          env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=60, check=False)


def base_config(tmp_path) -> dict:
    return {"ip": "127.0.0.9", "secret": SECRET, "data-dir": str(tmp_path / "raft"),
            "postgres": {"bin-dir": "/usr/lib/postgresql/15/bin"}}


def test_bad_duration_names_the_key(tmp_path):
    config = {**base_config(tmp_path), "cluster": {"node-timeout": "soon"}}
    proc = run_agent(tmp_path, config, {"PGDATA": str(tmp_path / "pg")})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "cluster.node-timeout" in proc.stderr and "'soon'" in proc.stderr


def test_missing_pgdata_is_named(tmp_path):
    proc = run_agent(tmp_path, base_config(tmp_path), {})
    assert proc.returncode == 2
    assert proc.stderr.strip() == "qluster: PGDATA is not set (seed 000 §6.4: /etc/systemd/system/qluster.env)"


def test_unknown_postgres_key_is_named(tmp_path):
    config = base_config(tmp_path)
    config["postgres"]["flavor"] = "qhb"
    proc = run_agent(tmp_path, config, {"PGDATA": str(tmp_path / "pg")})
    assert proc.returncode == 2
    assert "postgres.flavor: unknown key" in proc.stderr


@pytest.mark.parametrize("mode,content,fragment", [
    (0o644, "pw", "readable by everyone"),
    (0o600, "", "is empty"),
])
def test_bad_password_file_is_refused(tmp_path, mode, content, fragment):
    secret = tmp_path / "db-password"
    secret.write_text(content)
    secret.chmod(mode)
    config = base_config(tmp_path)
    config["postgres"]["password-file"] = str(secret)
    proc = run_agent(tmp_path, config, {"PGDATA": str(tmp_path / "pg")})
    assert proc.returncode == 2
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("keys,fragment", [
    ({"replication-user": "Replicator"}, "postgres.replication-user: 'Replicator' is not a role name"),
    ({"replication-password-file": "REPL"}, "postgres.replication-password-file: '"),
    ({"replication-user": "qluster_replication", "password-file": "DB"},
     "postgres.replication-password-file: not set, but required"),
])
def test_bad_replication_role_keys_are_refused(tmp_path, keys, fragment):
    secret = tmp_path / "db-password"
    secret.write_text("pw")
    secret.chmod(0o600)
    config = base_config(tmp_path)
    config["postgres"].update({key: str(secret) if value in ("DB", "REPL") else value for key, value in keys.items()})
    proc = run_agent(tmp_path, config, {"PGDATA": str(tmp_path / "pg")})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr
