"""One real agent (`python -m qluster_agent.main`) with a real PostgreSQL 15, for the modules'
real-agent test. The minimal part of files/qluster_agent/tests/integration/harness.py, on
addresses of its own (127.0.0.9, API 18291, database 56591, UDP 19991) so it never collides with
the agent's integration tests. Tests run as root; the agent runs the database as `postgres`.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

OS_USER = "postgres"
PG_BIN = "/usr/lib/postgresql/15/bin"
IP = "127.0.0.9"
API_PORT = 18291
PG_PORT = 56591
UDP_PORT = 19991
SECRET = "modules-test-secret-0123456789abcdef"
API_TOKEN = "modules-test-api-token-0123456789"
NODE_ID = int.from_bytes(bytes(int(x) for x in IP.split(".")), "big")

TEMPLATE_CONF = """\
listen_addresses = '*'
wal_level = replica
max_wal_senders = 10
shared_buffers = 16MB
max_connections = 40
fsync = off
"""
TEMPLATE_HBA = """\
local all all trust
host all all 127.0.0.0/8 trust
local replication all trust
host replication all 127.0.0.0/8 trust
"""


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2, alive=lambda: True):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        if not alive():
            raise AssertionError(f"the agent exited while waiting for {what}")
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the condition may fail to evaluate while the node starts
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}" +
                         (f" (last error: {last_error})" if last_error else ""))


def _chown(path: Path) -> None:
    user = pwd.getpwnam(OS_USER)
    os.chown(path, user.pw_uid, user.pw_gid)


class AgentNode:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "node"
        self.pgdata = self.dir / "pgdata"
        self.config_path = self.dir / "config.yaml"
        self.log_path = self.dir / "agent.log"
        self.api_url = f"http://{IP}:{API_PORT}"
        self.process: subprocess.Popen | None = None

    def prepare(self) -> None:
        os.chmod(self.root, 0o755)
        templates = self.root / "templates"
        templates.mkdir()
        (templates / "postgresql.conf").write_text(TEMPLATE_CONF)
        (templates / "pg_hba.conf").write_text(TEMPLATE_HBA)
        password = self.root / "db-password"
        password.write_text("modules-db-password\n")
        password.chmod(0o600)
        (self.root / "backup" / "wal").mkdir(parents=True)
        _chown(self.root / "backup")
        _chown(self.root / "backup" / "wal")
        self.dir.mkdir()
        _chown(self.dir)
        self.pgdata.mkdir(mode=0o700)
        _chown(self.pgdata)
        self.config_path.write_text(json.dumps({
            "ip": IP,
            "api-port": API_PORT,
            "api-token": API_TOKEN,
            "udp": {"socket": {"group": f"239.0.0.1:{UDP_PORT}"}, "peers": [f"{IP}:{UDP_PORT}"]},
            "secret": SECRET,
            "data-dir": str(self.dir / "raft"),
            "postgres": {
                "bin-dir": PG_BIN, "run-as": OS_USER, "superuser": OS_USER, "replication-user": OS_USER,
                "socket-dir": str(self.dir), "template-dir": str(templates),
                "add-node-marker": str(self.dir / "add_node"), "password-file": str(password),
            },
        }))

    def start(self) -> None:
        env = {**os.environ, "PGDATA": str(self.pgdata), "PGPORT": str(PG_PORT), "PGUSER": OS_USER,
               "BACKUP_PATH": str(self.root / "backup"), "CONFIG_PATH": str(self.config_path),
               "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "qluster_agent.main", "--config",
                                             str(self.config_path)], env=env, stdout=log, stderr=subprocess.STDOUT)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if (self.pgdata / "postmaster.pid").exists():
            subprocess.run(["runuser", "-u", OS_USER, "--", f"{PG_BIN}/pg_ctl", "-D", str(self.pgdata),
                            "stop", "-m", "immediate"], capture_output=True, check=False)

    def api(self, path: str) -> dict:
        with urllib.request.urlopen(self.api_url + path, timeout=10) as response:
            return json.loads(response.read())

    def healthy_leader(self) -> bool:
        cluster_map = self.api("/map")
        rows = [m for m in cluster_map["members"] if m["id"] == NODE_ID]
        return cluster_map.get("leader") == NODE_ID and bool(rows) and rows[0]["state"] == "healthy" \
            and rows[0]["db_role"] == "primary"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
