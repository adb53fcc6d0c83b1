"""Patroni (3 nodes) and one etcd on 127.0.0.x, set up like the agent's integration harness.

For paired benchmarks against the agent on one machine (bench/bootstrap.py --patroni): node N
listens on 127.0.0.N with the harness's database port, and PostgreSQL gets the harness's
settings (tests/integration/harness.py TEMPLATE_CONF and TEMPLATE_HBA), the agent's initdb
options (UTF-8, data checksums) and its clone method (pg_basebackup -X stream --checkpoint=fast).
The superuser replicates, as in the harness. Patroni's own timing is its default (ttl 30 s,
loop_wait 10 s, retry_timeout 10 s) unless `loop_wait` is given (ttl and retry_timeout follow
Patroni's rule loop_wait + 2 * retry_timeout <= ttl). Commits are asynchronous, Patroni's default.

Needs the Debian packages patroni and etcd-server (`apt-get install patroni etcd-server`) and
root (Patroni runs as the `postgres` user); nothing in CI uses this.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "files" / "qluster_agent"))
from tests.integration.harness import OS_USER, PG_BIN, TEMPLATE_CONF, TEMPLATE_HBA, chown_to_postgres, wait_for  # noqa: E402

PATRONI = "/usr/bin/patroni"
ETCD = "/usr/bin/etcd"
ETCD_CLIENT = "127.0.0.1:23790"
ETCD_PEER = "127.0.0.1:23800"


def missing_programs() -> list[str]:
    return [p for p in (PATRONI, ETCD) if not Path(p).exists()]


def _template_settings() -> dict[str, str]:
    """TEMPLATE_CONF as a mapping (Patroni writes postgresql.conf itself)."""
    settings = {}
    for line in TEMPLATE_CONF.splitlines():
        name, _sep, value = line.partition("=")
        if name.strip():
            settings[name.strip()] = value.strip().strip("'")
    return settings


class Etcd:
    """One etcd member, the DCS of every Patroni cluster of the run (each run its own scope)."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "etcd"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        log = open(self.dir / "etcd.log", "ab")
        self.process = subprocess.Popen(
            [ETCD, "--name", "bench", "--data-dir", str(self.dir / "data"),
             "--listen-client-urls", f"http://{ETCD_CLIENT}", "--advertise-client-urls", f"http://{ETCD_CLIENT}",
             "--listen-peer-urls", f"http://{ETCD_PEER}", "--initial-advertise-peer-urls", f"http://{ETCD_PEER}",
             "--initial-cluster", f"bench=http://{ETCD_PEER}", "--initial-cluster-state", "new"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for(self.healthy, 30, "etcd to answer")

    @staticmethod
    def healthy() -> bool:
        with urllib.request.urlopen(f"http://{ETCD_CLIENT}/health", timeout=2) as response:
            return json.loads(response.read()).get("health") == "true"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class PatroniNode:
    def __init__(self, root: Path, number: int) -> None:
        self.number = number
        self.ip = f"127.0.0.{number}"
        self.pg_port = 16440 + number  # the harness's database ports
        self.api_port = 8008
        self.dir = root / f"patroni{number}"
        self.pgdata = self.dir / "pgdata"
        self.config_path = self.dir / "patroni.yml"
        self.log_path = self.dir / "patroni.log"
        self.process: subprocess.Popen | None = None

    def prepare(self, scope: str, loop_wait: int | None) -> None:
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        chown_to_postgres(self.dir)
        settings = _template_settings()
        # Patroni keeps these in the DCS for the whole cluster; the others are each node's.
        shared = {name: settings.pop(name) for name in ("wal_level", "max_wal_senders", "max_connections")}
        timing = {} if loop_wait is None else {"loop_wait": loop_wait, "retry_timeout": max(3, loop_wait),
                                               "ttl": max(20, loop_wait + 2 * max(3, loop_wait))}
        config = {
            "scope": scope,
            "name": f"node{self.number}",
            "restapi": {"listen": f"{self.ip}:{self.api_port}", "connect_address": f"{self.ip}:{self.api_port}"},
            "etcd3": {"host": ETCD_CLIENT},
            "bootstrap": {
                "dcs": {**timing, "postgresql": {"use_pg_rewind": True, "parameters": shared}},
                "initdb": [{"encoding": "UTF8"}, "data-checksums"],
                "pg_hba": [line for line in TEMPLATE_HBA.splitlines() if line.strip()],
            },
            "postgresql": {
                "listen": f"{self.ip}:{self.pg_port}",
                "connect_address": f"{self.ip}:{self.pg_port}",
                "data_dir": str(self.pgdata),
                "bin_dir": PG_BIN,
                "pgpass": str(self.dir / "pgpass"),
                "authentication": {
                    "superuser": {"username": OS_USER, "password": "bench-db-password"},
                    "replication": {"username": OS_USER, "password": "bench-db-password"},
                },
                "parameters": {**settings, "unix_socket_directories": str(self.dir)},
                "basebackup": [{"checkpoint": "fast"}],
            },
        }
        self.config_path.write_text(json.dumps(config, indent=1))  # YAML is a superset of JSON

    def start(self) -> None:
        log = open(self.log_path, "ab")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.dir), "LANG": "C.UTF-8"}
        self.process = subprocess.Popen([PATRONI, str(self.config_path)], cwd=self.dir, env=env, user=OS_USER,
                                        group=OS_USER, extra_groups=[], stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def stop(self) -> None:
        """Patroni stops its database on SIGTERM; whatever is left after 30 s is killed."""
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


class PatroniCluster:
    """Three Patroni nodes of one scope; `prepare` gives every run a new scope and empty data."""

    def __init__(self, root: Path, count: int = 3) -> None:
        self.root = root
        self.nodes = [PatroniNode(root, n) for n in range(1, count + 1)]

    def prepare(self, scope: str, loop_wait: int | None = None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        for node in self.nodes:
            node.prepare(scope, loop_wait)

    def start(self) -> None:
        for node in self.nodes:
            node.start()

    def shutdown(self) -> None:
        for node in self.nodes:
            node.stop()


def wait_until_gone(nodes, timeout: float = 30) -> None:
    """Until no database of `nodes` holds its pid file (the next run binds the same ports)."""
    wait_for(lambda: not any((n.pgdata / "postmaster.pid").exists() for n in nodes), timeout,
             "the databases to stop")


__all__ = ["Etcd", "PatroniCluster", "PatroniNode", "missing_programs", "wait_until_gone"]
