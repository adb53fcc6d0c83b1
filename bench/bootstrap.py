"""Bootstrap of a new 3-node cluster from empty data directories, on one machine.

Three agents and three PostgreSQL 15 on 127.0.0.1-3 (the integration tests' harness, as
bench/agent_failover.py), all started at the same moment: node 1 without the add_node marker,
nodes 2 and 3 with it (seed 000 §7). Measured per run, from the start of the processes, by
asking the databases themselves every 20 ms:
  writable   a database accepts read-write sessions (pg_is_in_recovery() is false)
  commit     a write transaction committed there (SELECT txid_current(), waiting for the
             synchronous standbys the cluster names, if any)
  streaming  that primary and two replicas whose walreceiver streams
Prints min/median/p95/max and the 1-minute load average at each run, and writes JSON.

--patroni runs Patroni (3 nodes, one etcd; bench/patroni_lab.py) in alternation with the
agents, the same PostgreSQL settings and probes, and reports both and their ratio from the
same run. It needs the Debian packages patroni and etcd-server. Run as root:

    .venv/bin/python bench/bootstrap.py --runs 5 --patroni --json bench/results/bootstrap.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "files" / "qluster_agent"))
from agent_failover import summary  # noqa: E402
from tests.integration.harness import OS_USER, PG_BIN, Cluster  # noqa: E402

METRICS = ("writable", "commit", "streaming")
# What issue 16 measured (a paired run on one machine, before this benchmark existed).
ISSUE_16 = {"agent": {"writable": 5.6, "streaming": 11.1}, "patroni": {"writable": 3.5, "streaming": 8.7}}
POLL = 0.02


class Probe:
    """Watches the databases at `endpoints` from `t0` (time.monotonic()) on.

    One connection per database, opened again whenever it fails; a write is tried on the
    first read-write database seen, in a thread of its own, since with synchronous standbys
    named its commit waits until one of them confirms it.
    """

    def __init__(self, endpoints: list[tuple[str, int]], t0: float) -> None:
        self.endpoints = endpoints
        self.t0 = t0
        self.seen: dict[str, float] = {}
        self._conns: dict[tuple[str, int], object] = {}
        self._stop = threading.Event()

    def _ask(self, endpoint: tuple[str, int]) -> tuple[bool, str | None] | None:
        """(in recovery, walreceiver status) of one database, None while it does not answer."""
        conn = self._conns.get(endpoint)
        try:
            if conn is None:
                conn = psycopg2.connect(host=endpoint[0], port=endpoint[1], user=OS_USER, dbname="postgres",
                                        connect_timeout=1)
                conn.autocommit = True
                self._conns[endpoint] = conn
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver)")
                return cur.fetchone()
        except psycopg2.Error:
            self._close(endpoint)
            return None

    def _close(self, endpoint: tuple[str, int]) -> None:
        conn = self._conns.pop(endpoint, None)
        if conn is not None:
            try:
                conn.close()
            except psycopg2.Error:
                pass

    def _write(self, endpoint: tuple[str, int]) -> None:
        while not self._stop.is_set():
            try:
                conn = psycopg2.connect(host=endpoint[0], port=endpoint[1], user=OS_USER, dbname="postgres",
                                        connect_timeout=1)
                try:
                    conn.autocommit = True
                    with conn.cursor() as cur:
                        cur.execute("SELECT txid_current()")
                    self.seen.setdefault("commit", time.monotonic() - self.t0)
                    return
                finally:
                    conn.close()
            except psycopg2.Error:
                self._stop.wait(POLL)

    def run(self, timeout: float) -> dict[str, float]:
        deadline = self.t0 + timeout
        writer = None
        try:
            while time.monotonic() < deadline and not ("streaming" in self.seen and "commit" in self.seen):
                states = {e: self._ask(e) for e in self.endpoints}
                now = time.monotonic() - self.t0
                primaries = [e for e, s in states.items() if s is not None and not s[0]]
                if primaries and "writable" not in self.seen:
                    self.seen["writable"] = now
                    writer = threading.Thread(target=self._write, args=(primaries[0],), daemon=True)
                    writer.start()
                streaming = [e for e, s in states.items() if s is not None and s[0] and s[1] == "streaming"]
                if len(primaries) == 1 and len(streaming) == len(self.endpoints) - 1:
                    self.seen.setdefault("streaming", now)
                time.sleep(POLL)
        finally:
            self._stop.set()
            for endpoint in list(self._conns):
                self._close(endpoint)
            if writer is not None:
                writer.join(5)
        return dict(self.seen)


def run_agents(base: Path, run: int, timeout: float, keep: bool) -> dict[str, float]:
    root = base / f"agent-{run}"
    cluster = Cluster(root)
    cluster.prepare()
    n1, n2, n3 = cluster.nodes
    try:
        t0 = time.monotonic()
        n1.start()
        n2.start(marker=True)
        n3.start(marker=True)
        return Probe([(n.ip, n.pg_port) for n in cluster.nodes], t0).run(timeout)
    finally:
        cluster.shutdown()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def run_patroni(base: Path, run: int, timeout: float, keep: bool, loop_wait: int | None) -> dict[str, float]:
    from patroni_lab import PatroniCluster  # only with --patroni: it needs the packages

    root = base / f"patroni-{loop_wait or 'default'}-{run}"
    cluster = PatroniCluster(root)
    cluster.prepare(f"bench-{run}-{uuid.uuid4().hex[:8]}", loop_wait)
    try:
        t0 = time.monotonic()
        cluster.start()
        return Probe([(n.ip, n.pg_port) for n in cluster.nodes], t0).run(timeout)
    finally:
        cluster.shutdown()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def versions() -> dict[str, str]:
    found = {}
    for name, argv in (("postgresql", [f"{PG_BIN}/postgres", "--version"]), ("patroni", ["patroni", "--version"]),
                       ("etcd", ["etcd", "--version"])):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10).stdout
            found[name] = out.strip().splitlines()[0] if out.strip() else "?"
        except OSError:
            found[name] = "not installed"
    repo = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "files/qluster_agent/qluster_agent"],
                           capture_output=True, text=True, check=False).stdout.strip()
    found["agent"] = head + (" with uncommitted changes" if dirty else "")
    return found


def describe(stats: dict | None) -> str:
    if not stats:
        return "no run finished"
    return (f"min {stats['min']:.2f}  median {stats['median']:.2f}  p95 {stats['p95']:.2f}  max {stats['max']:.2f}"
            f"  ({stats['runs']} runs)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--patroni", action="store_true", help="alternate with Patroni + etcd (Debian packages)")
    parser.add_argument("--patroni-loop-wait", default="default",
                        help="Patroni's loop_wait, comma-separated for several variants ('default': 10 s)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a run may take")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between runs, for the machine to settle")
    parser.add_argument("--keep", action="store_true", help="keep each run's directories (logs)")
    parser.add_argument("--json", default="bench/results/bootstrap.json")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the agents and Patroni run PostgreSQL as the postgres user", file=sys.stderr)
        return 2
    systems = {"agent": lambda base, run: run_agents(base, run, args.timeout, args.keep)}
    if args.patroni:
        from patroni_lab import Etcd, missing_programs

        missing = missing_programs()
        if missing:
            print(f"--patroni needs {', '.join(missing)}: apt-get install patroni etcd-server", file=sys.stderr)
            return 2
        for text in args.patroni_loop_wait.split(","):
            loop_wait = None if text.strip() == "default" else int(text)
            name = "patroni" if loop_wait is None else f"patroni_loop_wait_{loop_wait}"
            systems[name] = lambda base, run, lw=loop_wait: run_patroni(base, run, args.timeout, args.keep, lw)
    base = Path(tempfile.mkdtemp(prefix="qluster-bench-boot-", dir="/tmp"))
    os.chmod(base, 0o755)
    etcd = None
    if args.patroni:
        etcd = Etcd(base)
        etcd.start()
    results: dict[str, list[dict]] = {name: [] for name in systems}
    try:
        names = list(systems)
        for run in range(args.runs):
            # Alternate which system goes first, so a drift of the machine's load hits both.
            order = names if run % 2 == 0 else names[::-1]
            for name in order:
                load = os.getloadavg()[0]
                seen = systems[name](base, run)
                results[name].append({"load_average_1m": load, **{m: seen.get(m) for m in METRICS}})
                shown = "  ".join(f"{m} {seen[m]:.2f} s" if m in seen else f"{m} -" for m in METRICS)
                print(f"run {run + 1} {name}: {shown}  (load {load:.2f})", flush=True)
                time.sleep(args.pause)
    finally:
        if etcd is not None:
            etcd.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"kept in {base}")
    report = {"runs": args.runs, "poll_s": POLL, "versions": versions(), "systems": {}}
    for name, rows in results.items():
        entry = {"runs": rows, "load_average_1m": summary([r["load_average_1m"] for r in rows]),
                 "failed_runs": sum(1 for r in rows if r["streaming"] is None)}
        for metric in METRICS:
            values = [r[metric] for r in rows if r[metric] is not None]
            entry[f"start_to_{metric}_s"] = summary(values) if values else None
        report["systems"][name] = entry
    print()
    for name, entry in report["systems"].items():
        print(f"{name} (load average {describe(entry['load_average_1m'])}; {entry['failed_runs']} runs unfinished)")
        for metric in METRICS:
            print(f"  start -> {metric:9}: {describe(entry[f'start_to_{metric}_s'])}")
    agent = report["systems"]["agent"]
    ratios = {}
    for name, entry in report["systems"].items():
        if name == "agent":
            continue
        ratios[name] = {m: (agent[f"start_to_{m}_s"]["median"] / entry[f"start_to_{m}_s"]["median"])
                        if agent[f"start_to_{m}_s"] and entry[f"start_to_{m}_s"] else None for m in METRICS}
        shown = "  ".join(f"{m} {r:.2f}" for m, r in ratios[name].items() if r is not None)
        print(f"median agent / {name}: {shown}")
    if not ratios:
        issue = ISSUE_16["agent"]
        print(f"(issue 16, before: agent writable {issue['writable']} s, streaming {issue['streaming']} s; "
              f"Patroni {ISSUE_16['patroni']['writable']} s, {ISSUE_16['patroni']['streaming']} s; "
              "not measured in this run)")
    report["median_ratio_agent_to"] = ratios
    report["issue_16_before"] = ISSUE_16
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.json}")
    return 0 if all(e["failed_runs"] == 0 for e in report["systems"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
