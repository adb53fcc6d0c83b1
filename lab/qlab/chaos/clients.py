"""Writers that record every acknowledged commit (the `writer` program of inhost.py).

They run on the pooler host: the database nodes accept connections from the cluster's own hosts
only (qhb_hba.conf), and that host is never faulted itself. Two kinds of write, each along two
paths:

- `insert`: autocommit INSERTs of unique ids;
- `transfer`: a transaction moving an amount between two accounts (the total stays constant) and
  logging the transfer under a unique id;
- paths: the pooler's read-write port (PgBouncer, 127.0.0.1:5432 on that host) when it answers,
  and a multi-host libpq string naming the three database nodes with
  `target_session_attrs=read-write`.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from pathlib import Path

from .cluster import Cluster
from .remote import PYTHON, Remote
from ..podman import LabError

POOLER_PORT = 5432
DB_PORT = 5432
ACCOUNTS = 10
INITIAL_BALANCE = 1000
# libpq: connect_timeout per host; a peer that vanishes is noticed through keepalives and
# tcp_user_timeout; a write still out after DEADLINE_S has its socket shut down (outcome unknown).
COMMON = ("dbname=postgres user=qhb connect_timeout=2 keepalives=1 keepalives_idle=1 keepalives_interval=1 "
          "keepalives_count=2 tcp_user_timeout=3000 application_name=chaos")
DEADLINE_S = 5.0


def pooler_answers(cluster: Cluster, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((cluster.addresses[cluster.pooler.hostname], POOLER_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def check_writer_host(cluster: Cluster) -> None:
    """The writers need psycopg2 on the pooler host (the qcp_host role installs python3-psycopg2)."""
    proc = cluster.pooler.exec(PYTHON, "-c", "import psycopg2", check=False)
    if proc.returncode != 0:
        raise LabError(f"{cluster.pooler.hostname} has no psycopg2 for {PYTHON}: deploy the pooler "
                       f"(site.yml's qcp_host play installs python3-psycopg2) before the chaos test")


def dsns(cluster: Cluster, use_pooler: bool) -> dict[str, str]:
    hosts = ",".join(cluster.addresses[name] for name in cluster.lab.db_hostnames)
    paths = {"direct": f"host={hosts} port={DB_PORT} target_session_attrs=read-write {COMMON}"}
    if use_pooler:
        paths["pooler"] = f"host=127.0.0.1 port={POOLER_PORT} {COMMON}"
    return paths


class Writes:
    """Every attempt of every client, as reported: outcome, id and [t0, t1] (wall clock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[dict] = []

    def add(self, record: dict) -> None:
        with self._lock:
            self.records.append(record)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.records)

    def ids(self, kind: str, outcome: str) -> set[str]:
        return {r["id"] for r in self.snapshot() if r["k"] == kind and r["r"] == outcome and r["id"]}

    def counts(self) -> dict[str, dict[str, int]]:
        per: dict[str, Counter] = {}
        for record in self.snapshot():
            per.setdefault(record["c"], Counter())[record["r"]] += 1
        return {client: dict(counter) for client, counter in sorted(per.items())}


class Clients:
    """The writer program on the pooler host, restarted if it dies; its reports land in `writes`."""

    def __init__(self, cluster: Cluster, run_id: str, password: str, seed: int, log_dir: Path,
                 use_pooler: bool | None = None, interval: float = 0.05) -> None:
        check_writer_host(cluster)
        self.use_pooler = pooler_answers(cluster) if use_pooler is None else use_pooler
        self.paths = dsns(cluster, self.use_pooler)
        self.writes = Writes()
        config = {
            "run": run_id, "seed": seed, "accounts": ACCOUNTS, "interval": interval, "deadline": DEADLINE_S,
            "clients": [{"name": f"{kind}-{path}", "kind": kind, "dsn": dsn}
                        for path, dsn in self.paths.items() for kind in ("insert", "transfer")],
        }
        self.remote = Remote(cluster.pooler, ["writer", json.dumps(config)], self.writes.add,
                             log_dir / "writer.log", env={"PGPASSWORD": password})

    def start(self) -> "Clients":
        self.remote.start()
        return self

    def stop(self) -> None:
        self.remote.stop(timeout=DEADLINE_S + 15)
