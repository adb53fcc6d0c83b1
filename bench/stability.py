"""The cluster does NOT fail over when nothing failed: load, CPU and disk pressure, runtime
setting changes, short freezes of the leader and the seed's slow timings, each for a set time on
a deployed lab, counting elections, leader changes, fences and client errors.

Scenarios (--scenarios picks a subset by letter; each runs --duration seconds):

  a  pgbench TPC-B through the pooler (`-i -s 20` once per run, then `-c 16 -j 2 -T <duration>`),
     from a follower's host: both CPUs saturated.
  b  the same, plus one busy loop per CPU of this machine inside the leader's host.
  c  an fsync storm on the leader's disk (--fsync-writers loops of a 64 KiB write + fsync, in the
     directory holding the data directory: the same filesystem), with a light pgbench alongside
     (`-c 2 -j 1 -R 50`).
  d  --changes random valid POST /config changes (qlusterctl config set on a random database
     node; node-timeout 800ms..5s, heartbeat-interval <= node-timeout, pre-/leader-voting
     timeouts, replication-retry-interval), seed 000 §10.5's body among them, spread over the
     duration, with a light writer through the pooler; the LAN defaults set back at the end.
  e  the leader's host frozen for 0.3 s every 10 s (qlab Host.pause/resume), with a light writer.
  f  an idle cluster on seed 000 §6.3's timings (30 s node-timeout) for the duration, then on
     §10.5's for the duration (rows f1 and f2); the LAN defaults set back after.

Counted for each: elections (the highest term at the end minus the one at the start, from each
agent's GET /map before, after and every 0.5 s during the run), leader changes (the leader each
agent names, polled every 0.5 s), the agents' journal lines on each database host in the window
("became leader", "became candidate", "became pre-candidate", "lost quorum", fences and demotes:
the HA loop's decisions of ha/decide.py, "...; fencing it" and "...; demoting"), pgbench's
aborted clients and failed transactions, the light writer's failed writes (one INSERT every
0.1 s on one connection through the pooler, reconnecting after an error) and its longest gap
between two successful writes, and the load average (sampled every 5 s).

Then, in the same run (--failovers N), the LAN defaults in force: kill -9 of the leader's host ->
first successful write through the pooler (bench/labbench.py's measurement, as bench/pooler.py's).

Prints a table and writes JSON (per-scenario details, the machine's load averages, the agent's git
commit). Run as root against a deployed lab (`make lab`); it leaves the lab on the LAN defaults:

    .venv/bin/python bench/stability.py --lab qlab --duration 600 --failovers 5
    .venv/bin/python bench/stability.py --scenarios e --duration 30 --failovers 1 \\
        --json bench/results/stability-trial.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import psycopg2

from labbench import healthy, leader_of, measure_failovers, read_map
from pooler import PGBENCH, LoadSampler, refusal_to_measure, run_pgbench, set_config
from qlab.faults import Host, wait_until
from qlab.podman import LabError, podman
from qlab.topology import DB_HOSTS, NFS_HOST, lab_by_name

REPO = Path(__file__).resolve().parents[1]

# The agent's defaults, tuned for failover within seconds on a LAN (files/.../config/keys.py).
LAN_DEFAULTS = {"node-timeout": "800ms", "heartbeat-interval": "100ms", "pre-voting-timeout": "400ms",
                "leader-voting-timeout": "400ms", "replication-retry-interval": "200ms"}
# Seed 000 §6.3's example config.yaml timings and §10.5's POST /config body.
SEED_6_3 = {"node-timeout": "30s", "heartbeat-interval": "10s", "pre-voting-timeout": "10s",
            "leader-voting-timeout": "10s", "replication-retry-interval": "1s", "set-leader-timeout": "30s"}
SEED_10_5 = {"heartbeat-interval": "5s", "leader-voting-timeout": "5s", "node-timeout": "5s",
             "pre-voting-timeout": "5s", "replication-retry-interval": "1s"}

# Journal lines of the agent (unit qluster) counted in each scenario's window: the consensus
# core's transitions (raft/core.py, raft/leader.py) and the HA loop's fence and demote decisions
# (ha/decide.py; the loop logs a decision's reason when it changes).
JOURNAL_PATTERNS = {
    "became_leader": "became leader",
    "became_candidate": "became candidate",
    "pre_candidate": "became pre-candidate",
    "lost_quorum": "lost quorum",
    "fence": "fencing",
    "demote": "demoting",
}

PGBENCH_HEAVY = ["-c", "16", "-j", "2"]
PGBENCH_LIGHT = ["-c", "2", "-j", "1", "-R", "50"]
PAUSE_EVERY = 10.0
PAUSE_FOR = 0.3
WRITER_EVERY = 0.1
SETTLE_S = 5.0  # seconds watched after a scenario's body, for what it set off


def duration_s(text: str) -> float:
    value, unit = re.fullmatch(r"([0-9.]+)(ms|s|m)", text).groups()
    return float(value) * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


# qhb_node_agent_install_dir's copy of files/qluster_agent (in the agent's home before the
# install moved out of it: a lab deployed then still has it there).
DEPLOYED_AGENT = ("/usr/local/lib/qluster/src/qluster_agent", "/opt/qluster/src/qluster_agent")
AGENT_SOURCES = "files/qluster_agent/qluster_agent"
BLOB_HASHES = """import hashlib, os, sys
os.chdir(sys.argv[1])
for top, dirs, files in os.walk("qluster_agent"):
    dirs[:] = [d for d in dirs if d != "__pycache__"]
    for name in files:
        if name.endswith(".py"):
            data = open(os.path.join(top, name), "rb").read()
            print(hashlib.sha1(b"blob %d\\0" % len(data) + data).hexdigest(), os.path.join(top, name))
"""


def git(*argv: str) -> str:
    return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()


def commit_sources(commit: str) -> dict[str, str]:
    """{path under files/qluster_agent: git blob hash} of the agent's .py files at `commit`."""
    out = {}
    for line in git("ls-tree", "-r", commit, "--", AGENT_SOURCES).splitlines():
        meta, path = line.split("\t", 1)
        if path.endswith(".py"):
            out[path[len("files/qluster_agent/"):]] = meta.split()[2]
    return out


def agent_commit(host: Host) -> dict:
    """The commit whose agent sources the lab runs: the deployed copy's files (git blob hashes)
    compared with HEAD and the last 40 commits that touched the agent; `make lab` deploys the
    working tree, so it may match none (uncommitted changes) or an older commit than HEAD."""
    listing = []
    for path in DEPLOYED_AGENT:
        listing = host.exec("python3", "-c", BLOB_HASHES, path, check=False).stdout.split("\n")
        if any(line.strip() for line in listing):
            break
    deployed = dict(reversed(line.split(" ", 1)) for line in listing if line.strip())
    head = git("rev-parse", "HEAD")
    found = None
    if deployed:
        for commit in [head, *git("log", "-n", "40", "--format=%H", "--", AGENT_SOURCES).split()]:
            if commit_sources(commit) == deployed:
                found = commit
                break
    return {"deployed_commit": found, "deployed_subject": git("log", "-1", "--format=%s", found) if found else None,
            "deployed_is_head": found == head, "head": head,
            "note": None if found else "the deployed agent matches no recent commit (uncommitted changes?)"}


# --- watching the cluster ---------------------------------------------------------------------
class MapPoller:
    """GET /map on every database node every `every` seconds, one thread per node (a frozen node
    must not hold up the others): the term and the leader each agent reports."""

    def __init__(self, nodes: dict[str, str], every: float = 0.5) -> None:
        self.nodes = nodes
        self.every = every
        self.samples: dict[str, list[tuple[float, tuple[int, int | None] | None]]] = {n: [] for n in nodes}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._poll, args=(name, address), daemon=True)
                         for name, address in nodes.items()]

    def _poll(self, name: str, address: str) -> None:
        while True:
            started = time.monotonic()
            cluster = read_map(address, timeout=1.0)
            seen = None if cluster is None else (cluster["term"], cluster["leader"])
            self.samples[name].append((time.time(), seen))
            if self._stop.wait(max(0.0, self.every - (time.monotonic() - started))):
                return

    def start(self) -> "MapPoller":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def summary(self, names: dict[int, str]) -> dict:
        per_node = {}
        for node, samples in self.samples.items():
            answered = [(at, seen) for at, seen in samples if seen is not None]
            changes = []
            previous = None
            for at, (term, leader) in answered:
                if leader is None:
                    continue
                if previous is not None and leader != previous:
                    changes.append({"at": round(at, 3), "from": names.get(previous, previous),
                                    "to": names.get(leader, leader), "term": term})
                previous = leader
            terms = [seen[0] for at, seen in answered]
            per_node[node] = {
                "samples": len(samples), "unanswered": len(samples) - len(answered),
                "leaderless": sum(1 for at, seen in answered if seen[1] is None),
                "leader_changes": changes, "min_term": min(terms, default=None), "max_term": max(terms, default=None),
                "leaders": sorted({names.get(seen[1], str(seen[1])) for at, seen in answered if seen[1] is not None}),
            }
        return per_node


def cluster_terms(nodes: dict[str, str]) -> dict[str, dict | None]:
    """Each database node's own term and leader (GET /map), or None when it does not answer."""
    out: dict[str, dict | None] = {}
    for name, address in nodes.items():
        cluster = read_map(address)
        out[name] = None if cluster is None else {"term": cluster["term"], "leader": cluster["leader_name"]}
    return out


def journal_counts(hosts: dict[str, Host], start: float, end: float) -> dict:
    """The agent's journal lines in [start, end] on each database host, counted by pattern; the
    matching lines themselves (at most 40 per host) are kept for a post-mortem."""
    out = {}
    for name in DB_HOSTS:
        proc = hosts[name].exec("journalctl", "-u", "qluster", "--no-pager", "-o", "short-iso",
                                "--since", f"@{int(start)}", "--until", f"@{int(end) + 1}", check=False, timeout=60)
        lines = proc.stdout.splitlines()
        counts = {key: sum(1 for line in lines if pattern in line) for key, pattern in JOURNAL_PATTERNS.items()}
        notable = [line for line in lines if any(pattern in line for pattern in JOURNAL_PATTERNS.values())]
        out[name] = {"counts": counts, "lines": notable[:40]}
    return out


# --- clients ----------------------------------------------------------------------------------
def pgbench_through(client: Host, password: str, pooler: str, args: list[str], timeout: float) -> dict:
    """One pgbench run through the pooler that may lose clients: its summary, never an exception."""
    proc = client.exec("env", f"PGPASSWORD={password}", PGBENCH, "-h", pooler, "-p", "5432", "-U", "qhb", *args,
                       "postgres", timeout=timeout, check=False)

    def number(pattern: str, cast=int):
        found = re.search(pattern, proc.stdout)
        return cast(found.group(1)) if found else None

    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower() or "abort" in line.lower()]
    return {
        "args": args, "client": client.hostname, "returncode": proc.returncode,
        "transactions": number(r"number of transactions actually processed: ([0-9]+)"),
        "failed_transactions": number(r"number of failed transactions: ([0-9]+)") or 0,
        "aborted_clients": len(re.findall(r"client [0-9]+ aborted", proc.stderr)),
        "tps": number(r"tps = ([0-9.]+) \(without initial connection time\)", float),
        "latency_ms": number(r"latency average = ([0-9.]+) ms", float),
        "errors": errors[:20],
    }


class LightWriter:
    """One INSERT every `every` seconds on one connection through the pooler, in a thread; after
    an error the connection is dropped and opened again. Counts failed writes and the longest
    time between two successful ones."""

    def __init__(self, pooler: str, password: str, every: float = WRITER_EVERY) -> None:
        self.pooler = pooler
        self.password = password
        self.every = every
        self.ok = 0
        self.failed = 0
        self.errors: list[str] = []
        self.longest_gap = 0.0
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _connect(self):
        conn = psycopg2.connect(host=self.pooler, port=5432, dbname="postgres", user="qhb", password=self.password,
                                connect_timeout=3)
        conn.autocommit = True
        return conn

    def _run(self) -> None:
        conn = None
        last_ok = time.monotonic()
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                if conn is None:
                    conn = self._connect()
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO stability_bench DEFAULT VALUES")
                now = time.monotonic()
                self.ok += 1
                self.slowest = max(self.slowest, now - began)
                self.longest_gap = max(self.longest_gap, now - last_ok)
                last_ok = now
            except psycopg2.Error as exc:
                self.failed += 1
                if len(self.errors) < 20:
                    self.errors.append(f"{time.strftime('%H:%M:%S')} {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
                if conn is not None:
                    conn.close()
                conn = None
            self._stop.wait(max(0.0, self.every - (time.monotonic() - began)))
        self.longest_gap = max(self.longest_gap, time.monotonic() - last_ok)
        if conn is not None:
            conn.close()

    def start(self) -> "LightWriter":
        conn = self._connect()
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS stability_bench (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())")
        conn.close()
        self._thread.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(timeout=60)
        return {"ok": self.ok, "failed": self.failed, "longest_gap_s": round(self.longest_gap, 3),
                "slowest_write_s": round(self.slowest, 3), "stuck": self._thread.is_alive(), "errors": self.errors}


# --- load inside the leader's host --------------------------------------------------------------
HOG = """import os, time
open({pidfile!r}, 'w').write(str(os.getpid()))
end = time.time() + {seconds}
while time.time() < end:
    pass
"""

FSYNC_STORM = """import os, time
open({pidfile!r}, 'w').write(str(os.getpid()))
end = time.time() + {seconds}
fd = os.open({path!r}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
block = os.urandom(65536)
done = 0
reported = time.time()
while time.time() < end:
    if done % 256 == 0:
        os.lseek(fd, 0, 0)
    os.write(fd, block)
    os.fsync(fd)
    done += 1
    if time.time() - reported >= 1:
        open({countfile!r}, 'w').write(str(done))
        reported = time.time()
open({countfile!r}, 'w').write(str(done))
os.close(fd)
os.unlink({path!r})
"""


class HostLoad:
    """Python loops started inside a lab host (`podman exec -d`), each ending by itself after
    `seconds` (a bench that dies leaves nothing running for long) and killed by pid at stop."""

    PREFIX = "/run/qluster-stability"

    def __init__(self, host: Host, kind: str) -> None:
        self.host = host
        self.kind = kind
        self.count = 0
        self.files: list[str] = []

    def start(self, template: str, count: int, seconds: float, **paths: str) -> "HostLoad":
        for index in range(count):
            pidfile = f"{self.PREFIX}-{self.kind}.{index}.pid"
            fields = {key: value.format(index=index) for key, value in paths.items()}
            self.files += [pidfile, *fields.values()]
            code = template.format(pidfile=pidfile, seconds=seconds, **fields)
            podman("exec", "-d", self.host.container, "python3", "-c", code)
        self.count = count
        wait_until(lambda: self.host.sh(" && ".join(f"test -s {self.PREFIX}-{self.kind}.{i}.pid" for i in range(count)),
                                        check=False).returncode == 0, 30, 0.2, f"{self.kind} loops running")
        return self

    def read(self, path: str) -> str:
        return self.host.exec("cat", path, check=False).stdout.strip()

    def stop(self) -> None:
        pids = " ".join(self.read(f"{self.PREFIX}-{self.kind}.{i}.pid") for i in range(self.count))
        if pids.strip():
            self.host.sh(f"kill {pids} 2>/dev/null; true", check=False)
        self.host.exec("rm", "-f", *self.files, check=False)


# --- the run ----------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.lab = lab_by_name(args.lab)
        self.hosts = {h.hostname: Host(self.lab, h.hostname) for h in self.lab.hosts}
        self.pooler = self.hosts[NFS_HOST].address
        self.nodes = {name: self.hosts[name].address for name in DB_HOSTS}
        self.password = self.hosts[DB_HOSTS[0]].exec("cat", "/etc/qluster/db-password").stdout.strip()
        self.rng = random.Random(args.seed)
        self.original = json.loads(self.hosts[DB_HOSTS[0]].exec("/usr/local/bin/qlusterctl", "config", "show").stdout)
        self.restore = {**LAN_DEFAULTS, "set-leader-timeout": self.original.get("set-leader-timeout", "5s")}
        if self.restore["set-leader-timeout"] == SEED_6_3["set-leader-timeout"]:
            self.restore["set-leader-timeout"] = "5s"  # left behind by an interrupted run
        self.paused: Host | None = None
        self.loads: list[HostLoad] = []
        self.longest_timeout = 0.8

    # cluster helpers
    def healthy_map(self) -> dict | None:
        cluster = read_map(self.pooler)
        return cluster if healthy(cluster) else None

    def cluster(self) -> dict:
        return wait_until(self.healthy_map, 300, 0.5, "a healthy cluster (a leader, 3 healthy voters)")

    def leader_host(self) -> Host:
        return self.hosts[leader_of(self.cluster())["name"]]

    def follower_host(self) -> Host:
        cluster = self.cluster()
        return self.hosts[next(m["name"] for m in cluster["members"] if m["role"] == "follower")]

    def configure(self, body: dict) -> None:
        set_config(self.hosts[self.rng.choice(DB_HOSTS)], body)
        if "node-timeout" in body:
            self.longest_timeout = max(self.longest_timeout, duration_s(body["node-timeout"]))

    def restore_lan(self) -> None:
        """The LAN defaults back; then two of the longest election timeouts in force, the time the
        agents keep the longer timeout while a change spreads (agent/timing.py)."""
        cluster = wait_until(lambda: read_map(self.pooler), 120, 0.5, "a cluster map")
        if cluster.get("leader") is None:
            cluster = self.cluster()
        set_config(self.hosts[leader_of(cluster)["name"]], self.restore)
        settle = 2 * self.longest_timeout + 1
        self.longest_timeout = 0.8
        print(f"  LAN defaults set back; {settle:.0f} s for the change to spread", flush=True)
        time.sleep(settle)

    def cleanup(self) -> None:
        for load in self.loads:
            load.stop()
        self.loads = []
        if self.paused is not None and self.paused.is_paused():
            self.paused.resume()
        self.paused = None

    # one scenario
    def window(self, key: str, title: str, body: Callable[[float], dict]) -> dict:
        cluster = self.cluster()
        names = {m["id"]: m["name"] for m in cluster["members"]}
        print(f"[{key}] {title}: leader {cluster['leader_name']}, load average {os.getloadavg()[0]:.1f}", flush=True)
        before = cluster_terms(self.nodes)
        sampler = LoadSampler(every=min(5.0, max(1.0, self.args.duration / 12))).start()
        poller = MapPoller(self.nodes).start()
        start = time.time()
        try:
            details = body(start)
        finally:
            self.cleanup()
        # What the scenario set off may show a moment after it: a lease lost as pgbench aborted
        # (run 1's b) was an election 1 s after the body ended. Keep watching for a while.
        time.sleep(SETTLE_S)
        end = time.time()
        poller.stop()
        load = sampler.stop()
        after = cluster_terms(self.nodes)
        polled = poller.summary(names)
        journal = journal_counts(self.hosts, start, end)
        terms_before = [n["term"] for n in before.values() if n]
        terms_after = [n["term"] for n in after.values() if n] + [p["max_term"] for p in polled.values() if p["max_term"]]
        leader_changes = max((len(p["leader_changes"]) for p in polled.values()), default=0)
        leaders_before = {n["leader"] for n in before.values() if n}
        leaders_after = {n["leader"] for n in after.values() if n}
        if leader_changes == 0 and leaders_before != leaders_after:
            leader_changes = 1
        totals = {kind: sum(j["counts"][kind] for j in journal.values()) for kind in JOURNAL_PATTERNS}
        row = {
            "scenario": key, "title": title, "duration_s": round(end - start, 1), "start": start, "end": end,
            "leader_before": cluster["leader_name"], "before": before, "after": after,
            "elections": max(terms_after, default=0) - max(terms_before, default=0),
            "leader_changes": leader_changes, "journal_totals": totals, "journal": journal, "polled": polled,
            "load_average": load, "healthy_after": healthy(read_map(self.pooler)), **details,
        }
        print(f"[{key}] done: elections {row['elections']}, leader changes {leader_changes}, journal {totals}", flush=True)
        return row

    # the scenarios
    def init_pgbench(self) -> None:
        cluster = self.cluster()
        client = self.follower_host()
        began = time.monotonic()
        run_pgbench(client, self.password, leader_of(cluster)["address"], ["-i", "-q", "-s", str(self.args.scale)],
                    timeout=1800)
        print(f"pgbench -i -s {self.args.scale}: {time.monotonic() - began:.0f} s", flush=True)

    def pgbench(self, args: list[str]) -> dict:
        duration = self.args.duration
        result = pgbench_through(self.follower_host(), self.password, self.pooler,
                                 [*args, "-n", "-T", str(duration)], timeout=duration + 300)
        return {"pgbench": result}

    def scenario_a(self, _start: float) -> dict:
        return self.pgbench(PGBENCH_HEAVY)

    def scenario_b(self, _start: float) -> dict:
        leader = self.leader_host()
        cpus = os.cpu_count() or 1
        self.loads.append(HostLoad(leader, "hog").start(HOG, cpus, self.args.duration + 60))
        return {"cpu_hogs": {"host": leader.hostname, "loops": cpus}, **self.pgbench(PGBENCH_HEAVY)}

    def scenario_c(self, _start: float) -> dict:
        leader = self.leader_host()
        datadir = leader.exec("runuser", "-u", "qhb", "--", "psql", "-X", "-At", "-d", "postgres", "-c",
                              "SHOW data_directory").stdout.strip()
        directory = os.path.dirname(datadir.rstrip("/")) or "/"
        load = HostLoad(leader, "fsync").start(FSYNC_STORM, self.args.fsync_writers, self.args.duration + 60,
                                               path=f"{directory}/qluster-stability-fsync.{{index}}",
                                               countfile=f"{HostLoad.PREFIX}-fsync.{{index}}.count")
        self.loads.append(load)
        result = self.pgbench(PGBENCH_LIGHT)
        done = [load.read(f"{HostLoad.PREFIX}-fsync.{i}.count") for i in range(load.count)]
        fsyncs = sum(int(d) for d in done if d.isdigit())
        return {"fsync_storm": {"host": leader.hostname, "directory": directory, "writers": load.count,
                                "block_kib": 64, "fsyncs": fsyncs,
                                "fsyncs_per_s": round(fsyncs / self.args.duration, 1)}, **result}

    def random_body(self) -> dict:
        node_timeout = self.rng.randrange(800, 5001, 10)
        body = {"node-timeout": f"{node_timeout}ms",
                "heartbeat-interval": f"{self.rng.randrange(50, node_timeout + 1, 10)}ms"}
        for key, low, high in (("pre-voting-timeout", 100, node_timeout), ("leader-voting-timeout", 100, node_timeout),
                               ("replication-retry-interval", 50, 1000)):
            if self.rng.random() < 0.7:
                body[key] = f"{self.rng.randrange(low, high + 1, 10)}ms"
        return body

    def scenario_d(self, start: float) -> dict:
        count = self.args.changes
        bodies = [self.random_body() for number in range(count - 1)] if count else []
        if count:
            bodies.insert(self.rng.randrange(count), dict(SEED_10_5))
        writer = LightWriter(self.pooler, self.password).start()
        applied, refused = 0, []
        try:
            for index, body in enumerate(bodies):
                delay = start + (index + 0.5) * self.args.duration / count - time.time()
                if delay > 0:
                    time.sleep(delay)  # the changes' schedule
                try:
                    self.configure(body)
                    applied += 1
                except LabError as exc:
                    refused.append({"body": body, "error": str(exc)[-300:]})
            remaining = start + self.args.duration - time.time()
            if remaining > 0:
                time.sleep(remaining)
        finally:
            writer_result = writer.stop()
        self.restore_lan()
        return {"config_changes": {"applied": applied, "refused": refused, "bodies": bodies}, "writer": writer_result}

    def scenario_e(self, start: float) -> dict:
        writer = LightWriter(self.pooler, self.password).start()
        pauses = []
        try:
            at = start + PAUSE_EVERY / 2
            while at + PAUSE_FOR < start + self.args.duration:
                delay = at - time.time()
                if delay > 0:
                    time.sleep(delay)  # the pauses' schedule
                cluster = read_map(self.pooler)
                if cluster and cluster.get("leader") is not None:
                    host = self.hosts[leader_of(cluster)["name"]]
                    asked = time.monotonic()
                    self.paused = host
                    host.pause()
                    frozen = time.monotonic()
                    time.sleep(PAUSE_FOR)
                    host.resume()
                    self.paused = None
                    pauses.append({"host": host.hostname, "pause_call_s": round(frozen - asked, 3),
                                   "frozen_s": round(time.monotonic() - frozen, 3)})
                at += PAUSE_EVERY
            remaining = start + self.args.duration - time.time()
            if remaining > 0:
                time.sleep(remaining)
        finally:
            writer_result = writer.stop()
        frozen = [p["frozen_s"] for p in pauses]
        return {"pauses": {"count": len(pauses), "max_frozen_s": max(frozen, default=None), "each": pauses},
                "writer": writer_result}

    def scenario_idle(self, settings: dict, restore: bool) -> Callable[[float], dict]:
        def run(start: float) -> dict:
            self.configure(settings)
            remaining = start + self.args.duration - time.time()
            if remaining > 0:
                time.sleep(remaining)  # idle: nothing to wait for but the clock
            if restore:
                self.restore_lan()
            return {"settings": settings}
        return run


def print_table(rows: list[dict]) -> None:
    print()
    header = (f"{'scenario':9} {'duration':>8} {'elections':>9} {'leader chg':>10} {'pre-cand':>8} "
              f"{'lost quor':>9} {'fences':>6} {'demotes':>7} {'pgbench abort/failed':>20} {'writer err':>10} "
              f"{'load min/med/max':>17}")
    print(header)
    print("-" * len(header))
    for row in rows:
        totals = row["journal_totals"]
        bench = row.get("pgbench")
        pgbench = f"{bench['aborted_clients']}/{bench['failed_transactions']}" if bench else "-"
        writer = f"{row['writer']['failed']}" if row.get("writer") else "-"
        load = row["load_average"]
        print(f"{row['scenario']:9} {row['duration_s']:>7.0f}s {row['elections']:>9} {row['leader_changes']:>10} "
              f"{totals['pre_candidate']:>8} {totals['lost_quorum']:>9} {totals['fence']:>6} {totals['demote']:>7} "
              f"{pgbench:>20} {writer:>10} {load['min']:>5.1f}/{load['median']:.1f}/{load['max']:.1f}")
    for row in rows:
        if row["elections"] or row["leader_changes"] or row["journal_totals"]["fence"] or row["journal_totals"]["demote"]:
            print(f"\n{row['scenario']}: what the agents logged")
            for name, journal in row["journal"].items():
                for line in journal["lines"]:
                    print(f"  {name}: {line.split(': ', 1)[-1][:200]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="qlab")
    parser.add_argument("--duration", type=int, default=600, help="seconds per scenario (f: twice)")
    parser.add_argument("--scenarios", default="abcdef", help="letters of the scenarios to run, e.g. ae")
    parser.add_argument("--failovers", type=int, default=5, help="kill -9 failovers after the scenarios")
    parser.add_argument("--scale", type=int, default=20, help="pgbench -i scale (scenarios a-c)")
    parser.add_argument("--changes", type=int, default=100, help="POST /config changes in scenario d")
    parser.add_argument("--fsync-writers", type=int, default=2, help="write+fsync loops in scenario c")
    parser.add_argument("--seed", type=int, default=1, help="seed of scenario d's random settings")
    parser.add_argument("--json", default="bench/results/stability.json")
    parser.add_argument("--max-load", type=float, default=12.0, help="start only at this 1-minute load or below")
    parser.add_argument("--wait-load", type=float, default=10.0, help="minutes to wait for that load")
    args = parser.parse_args()
    letters = [c for c in args.scenarios.lower() if c.isalnum()]
    unknown = [c for c in letters if c not in "abcdef"]
    if unknown:
        parser.error(f"unknown --scenarios {''.join(unknown)}: choose from abcdef")
    refused = refusal_to_measure(args.max_load, args.wait_load)
    if refused is not None:
        return refused
    bench = Bench(args)
    if not healthy(read_map(bench.pooler)):
        print(f"the cluster behind {bench.pooler} is not healthy: deploy it first (make lab)", file=sys.stderr)
        return 2
    results: dict = {"lab": bench.lab.name, "agent": agent_commit(bench.hosts[DB_HOSTS[0]]), "duration_s": args.duration,
                     "scenarios_run": "".join(letters), "config_before": bench.original,
                     "load_average_start": os.getloadavg(), "cpus": os.cpu_count(), "scenarios": [], "failover": None}
    agent = results["agent"]
    print(f"agent deployed in the lab: {(agent['deployed_commit'] or 'no recent commit')[:12]}"
          f"{'' if agent['deployed_is_head'] else ' (NOT HEAD ' + agent['head'][:12] + ')'}, lab {bench.lab.name}, load average "
          f"{os.getloadavg()[0]:.1f}, {args.duration} s per scenario", flush=True)
    sampler = LoadSampler().start()
    plan = {
        "a": [("a", "pgbench tpcb 16 clients through the pooler", bench.scenario_a)],
        "b": [("b", "pgbench 16 clients + a busy loop per CPU in the leader's host", bench.scenario_b)],
        "c": [("c", f"fsync storm on the leader's disk + pgbench {' '.join(PGBENCH_LIGHT)}", bench.scenario_c)],
        "d": [("d", f"{args.changes} random POST /config changes + light writer", bench.scenario_d)],
        "e": [("e", f"leader's host frozen {PAUSE_FOR} s every {PAUSE_EVERY:.0f} s + light writer", bench.scenario_e)],
        "f": [("f1", "idle on seed §6.3's timings (node-timeout 30s)", bench.scenario_idle(SEED_6_3, False)),
              ("f2", "idle on seed §10.5's timings (node-timeout 5s)", bench.scenario_idle(SEED_10_5, True))],
    }
    try:
        if set(letters) & set("abc"):
            bench.init_pgbench()
        for letter in "abcdef":
            if letter in letters:
                for key, title, body in plan[letter]:
                    results["scenarios"].append(bench.window(key, title, body))
        if args.failovers:
            bench.cluster()
            current = json.loads(bench.hosts[DB_HOSTS[0]].exec("/usr/local/bin/qlusterctl", "config", "show").stdout)
            if any(current.get(k) != v for k, v in LAN_DEFAULTS.items()):
                bench.restore_lan()
            stalls: list[str] = []
            times = measure_failovers(bench.hosts, bench.pooler, bench.password, args.failovers, stalls)
            results["failover"] = {"runs": len(times), "timings": LAN_DEFAULTS, "min": min(times),
                                   "median": statistics.median(times), "max": max(times), "each": times,
                                   "stalls": stalls,
                                   # With an agent that keeps a follower's drawn election timeout
                                   # across a timing change, the scenario before matters.
                                   "after_scenario": results["scenarios"][-1]["scenario"] if results["scenarios"] else None}
    finally:
        bench.cleanup()
        shown = bench.hosts[DB_HOSTS[0]].exec("/usr/local/bin/qlusterctl", "config", "show", check=False)
        current = json.loads(shown.stdout or "{}")
        if any(current.get(k) != v for k, v in bench.restore.items()):
            bench.restore_lan()
    results["healthy_at_end"] = healthy(wait_until(lambda: read_map(bench.pooler), 60, 0.5, "a cluster map"))
    results["config_after"] = json.loads(bench.hosts[DB_HOSTS[0]].exec("/usr/local/bin/qlusterctl", "config",
                                                                       "show").stdout)
    results["load_average_end"] = os.getloadavg()
    results["load_average"] = sampler.stop()
    print_table(results["scenarios"])
    failover = results["failover"]
    if failover:
        print(f"\nkill -9 of the leader's host -> first write through the pooler (LAN defaults): median "
              f"{failover['median']:.2f} s, max {failover['max']:.2f} s over {failover['runs']}")
    print("load average during the run: min {min:.1f}, median {median:.1f}, max {max:.1f}".format(**results["load_average"]))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
