"""Real agents (`python -m qluster_agent.main`) and real PostgreSQL 15 on one machine.

Each node gets its own loopback address (127.0.0.N), API port, database port, data directory
and consensus directory; the agents talk over real UDP sockets in unicast mode. Tests run as
root, so the agents run the database as the `postgres` user (postgres.run-as).
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
import uuid
import urllib.error
import urllib.request
from pathlib import Path

import psycopg2

from ..api.openapi_check import check_answer

OS_USER = "postgres"
PG_BIN = "/usr/lib/postgresql/15/bin"
UDP_PORT = 19999
SECRET = "integration-test-secret-0123456789"

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


# Answers of the agents checked against /openapi.json, and those that did not fit it.
OPENAPI_CHECKED: list[str] = []
OPENAPI_MISFITS: list[str] = []


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the condition may fail to evaluate while things settle
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}" +
                         (f" (last error: {last_error})" if last_error else ""))


def chown_to_postgres(path: Path) -> None:
    user = pwd.getpwnam(OS_USER)
    os.chown(path, user.pw_uid, user.pw_gid)


class Node:
    def __init__(self, root: Path, number: int, numbers: range, postgres: dict | None = None) -> None:
        self.number = number
        self.ip = f"127.0.0.{number}"
        self.api_port = 18180 + number
        # Below the kernel's ephemeral range (32768-60999): a client socket that happened to get
        # the port would keep the database from binding it.
        self.pg_port = 16440 + number
        self.dir = root / f"node{number}"
        self.pgdata = self.dir / "pgdata"
        self.marker = self.dir / "add_node"
        self.log_path = self.dir / "agent.log"
        self.config_path = self.dir / "config.yaml"
        self.backup = root / "backup"
        self.peers = [f"127.0.0.{i}:{UDP_PORT}" for i in numbers]
        self.postgres = postgres or {}  # more keys of the `postgres:` section
        self.process: subprocess.Popen | None = None
        self.node_id = int.from_bytes(bytes(int(x) for x in self.ip.split(".")), "big")

    def prepare(self, templates: Path) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        chown_to_postgres(self.dir)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        chown_to_postgres(self.pgdata)
        self.config_path.write_text(json.dumps({
            "ip": self.ip,
            "api-port": self.api_port,
            "udp": {"socket": {"group": f"239.0.0.1:{UDP_PORT}"}, "peers": self.peers},
            "secret": SECRET,
            "data-dir": str(self.dir / "raft"),
            "postgres": {
                "bin-dir": PG_BIN, "run-as": OS_USER, "superuser": OS_USER, "replication-user": OS_USER,
                "socket-dir": str(self.dir), "template-dir": str(templates),
                "add-node-marker": str(self.marker), "password-file": str(self.dir.parent / "db-password"),
                **self.postgres,
            },
        }))

    def start(self, marker: bool = False) -> None:
        if marker:
            self.marker.touch()
        env = {**os.environ, "PGDATA": str(self.pgdata), "PGPORT": str(self.pg_port), "PGUSER": OS_USER,
               "BACKUP_PATH": str(self.backup), "CONFIG_PATH": str(self.config_path),
               "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "qluster_agent.main", "--config", str(self.config_path)],
                                        env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill_agent(self) -> None:
        if self.running():
            self.process.kill()
            self.process.wait(10)

    def stop_agent(self) -> None:
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill_database(self) -> None:
        pid = self.postmaster_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop_database(self) -> None:
        if self.postmaster_pid():
            subprocess.run(["runuser", "-u", OS_USER, "--", f"{PG_BIN}/pg_ctl", "-D", str(self.pgdata),
                            "stop", "-m", "immediate"], capture_output=True, check=False)

    # --- API and SQL --------------------------------------------------------------------
    def api(self, path: str, method: str = "GET", body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://{self.ip}:{self.api_port}{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                raw = response.read()
                return response.status, self._checked(method, path, response.status, json.loads(raw) if raw else {})
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, self._checked(method, path, exc.code, json.loads(raw))
            except ValueError:
                return exc.code, {}

    @staticmethod
    def _checked(method: str, path: str, status: int, payload):
        """Every JSON answer of a real agent is checked against /openapi.json; a misfit is kept
        in OPENAPI_MISFITS (test_cluster's last test lists them) and raised."""
        OPENAPI_CHECKED.append(f"{method} {path} -> {status}")
        try:
            check_answer(method, path, status, payload)
        except AssertionError as exc:
            OPENAPI_MISFITS.append(str(exc))
            raise
        return payload

    def map(self) -> dict:
        return self.api("/map")[1]

    def connect(self):
        conn = psycopg2.connect(host=self.ip, port=self.pg_port, user=OS_USER, dbname="postgres", connect_timeout=3)
        conn.autocommit = True
        return conn

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params or None)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def writable(self) -> bool:
        try:
            return self.query("SELECT NOT pg_is_in_recovery()")[0][0]
        except psycopg2.Error:
            return False

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Cluster:
    """Nodes 127.0.0.`first` on; `postgres` adds keys to their `postgres:` section, `hba` replaces
    the template's pg_hba.conf."""

    def __init__(self, root: Path, count: int = 3, first: int = 1, postgres: dict | None = None,
                 hba: str = TEMPLATE_HBA) -> None:
        self.root = root
        self.templates = root / "templates"
        self.hba = hba
        numbers = range(first, first + count)
        self.nodes = [Node(root, n, numbers, postgres) for n in numbers]

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.templates.mkdir(exist_ok=True)
        (self.templates / "postgresql.conf").write_text(TEMPLATE_CONF)
        (self.templates / "pg_hba.conf").write_text(self.hba)
        password = self.root / "db-password"
        password.write_text("integration-db-password\n")
        password.chmod(0o600)
        backup = self.root / "backup"
        (backup / "wal").mkdir(parents=True, exist_ok=True)
        chown_to_postgres(backup)
        chown_to_postgres(backup / "wal")
        for node in self.nodes:
            node.prepare(self.templates)

    def by_id(self, node_id: int) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    def leader(self, among: list[Node] | None = None) -> Node | None:
        """The node every running agent names as leader, when they agree."""
        names = set()
        for node in among or [n for n in self.nodes if n.running()]:
            names.add(node.map().get("leader"))
        if len(names) == 1 and None not in names:
            return self.by_id(names.pop())
        return None

    def writable_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.writable()]

    def healthy(self, nodes: list[Node]) -> bool:
        """One leader with a writable database, every other node a streaming replica, on every map."""
        leader = self.leader(nodes)
        if leader is None or not leader.writable():
            return False
        members = {m["id"]: m for m in leader.map()["members"]}
        for node in nodes:
            member = members.get(node.node_id)
            if member is None or member["state"] != "healthy":
                return False
            if node is not leader and not (member["db_role"] == "replica" and member["streaming"]):
                return False
        return True

    def shutdown(self) -> None:
        for node in self.nodes:
            node.kill_agent()
        for node in self.nodes:
            node.stop_database()


class UdpPartition:
    """Drops the consensus datagrams to and from one node's address (nftables on loopback).

    Dropped in the input hook, so senders see no error: packets just vanish, as on a cut link.
    Only the agents' UDP port is cut; the databases' TCP connections stay up.
    """

    TABLE = "qluster_it"

    def __init__(self, ip: str, port: int = UDP_PORT) -> None:
        self.ip = ip
        self.port = port

    def __enter__(self) -> "UdpPartition":
        rules = (f"add table inet {self.TABLE}\n"
                 f"add chain inet {self.TABLE} input {{ type filter hook input priority 0; }}\n"
                 f"add rule inet {self.TABLE} input ip saddr {self.ip} udp dport {self.port} drop\n"
                 f"add rule inet {self.TABLE} input ip daddr {self.ip} udp dport {self.port} drop\n")
        subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
        return self

    def __exit__(self, *exc_info) -> None:
        subprocess.run(["nft", "delete", "table", "inet", self.TABLE], check=False, capture_output=True)


class Writer:
    """Inserts a row every 10 ms through a multi-host connection string that finds the writable
    node (target_session_attrs=read-write), as an application would; records every commit."""

    def __init__(self, cluster: Cluster, table: str) -> None:
        hosts = ",".join(n.ip for n in cluster.nodes)
        ports = ",".join(str(n.pg_port) for n in cluster.nodes)
        self.dsn = (f"host={hosts} port={ports} user={OS_USER} dbname=postgres connect_timeout=1 "
                    "target_session_attrs=read-write")
        self.sql = f"INSERT INTO {table}(v) VALUES (%s) RETURNING inet_server_port()"
        self.commits: list[tuple[float, int, str]] = []  # (time, port of the database that committed, value)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Writer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            value = uuid.uuid4().hex
            try:
                if conn is None:
                    conn = psycopg2.connect(self.dsn)
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("SET statement_timeout = '2s'")
                    cur.execute(self.sql, (value,))
                    port = cur.fetchone()[0]
                self.commits.append((time.monotonic(), port, value))
            except psycopg2.Error:
                if conn is not None:
                    try:
                        conn.close()
                    except psycopg2.Error:
                        pass
                conn = None
            time.sleep(0.01)

    def first_commit_after(self, moment: float, not_on: int, timeout: float = 60) -> float:
        """The first commit after `moment` on a database other than port `not_on`."""
        return wait_for(lambda: next((c[0] for c in list(self.commits) if c[0] > moment and c[1] != not_on), None),
                        timeout, "a write on another node")

    def last_commit_on(self, port: int) -> float:
        return max(c[0] for c in list(self.commits) if c[1] == port)

    def writing_recently(self) -> bool:
        return bool(self.commits) and self.commits[-1][0] > time.monotonic() - 0.5

    def acknowledged(self) -> set[str]:
        return {c[2] for c in list(self.commits)}
