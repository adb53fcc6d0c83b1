"""One chaos run: schema, probes and writers started, the nemesis's schedule, heal, converge, verdict."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from ..faults import wait_until
from ..podman import LabError
from ..topology import Lab
from . import remote
from .checker import CONVERGE_TIMEOUT_S, converge, dump, judge, summary
from .clients import ACCOUNTS, INITIAL_BALANCE, Clients
from .cluster import Cluster, available
from .nemesis import Nemesis, schedule
from .probes import LOCAL_DSN, Probes
from .timeline import annotate, by_kind, distribution

SCHEMA = """
CREATE TABLE IF NOT EXISTS chaos_rows (id text PRIMARY KEY, client text NOT NULL,
                                       at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE IF NOT EXISTS chaos_transfers (id text PRIMARY KEY, run text NOT NULL, src int NOT NULL,
                                            dst int NOT NULL, amount int NOT NULL);
CREATE TABLE IF NOT EXISTS chaos_accounts (run text, id int, balance bigint NOT NULL, PRIMARY KEY (run, id));
CREATE TABLE IF NOT EXISTS chaos_probe (node text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
TRUNCATE chaos_probe;
INSERT INTO chaos_accounts SELECT '{run}', g, {balance} FROM generate_series(0, {last}) AS g;
"""


def run(lab: Lab, events: int, seed: int, json_path: Path | None = None, log=print,
        use_pooler: bool | None = None, converge_timeout: float = CONVERGE_TIMEOUT_S,
        max_seconds: float | None = None) -> dict:
    """Run the chaos test against a deployed lab; the result (also written as JSON). With
    `max_seconds`, no new fault starts after that long: the run then heals and checks as usual,
    and the result says how many events ran (`events_planned` against `events`)."""
    if events < 1:
        raise ValueError(f"--events must be at least 1, not {events}")
    if max_seconds is not None and max_seconds <= 0:
        raise ValueError(f"--max-minutes must be positive, not {max_seconds / 60:g}")
    cluster = Cluster.of(lab)
    try:
        wait_until(lambda: available(cluster.freshest_map()), 180, 1.0, "an available cluster")
    except TimeoutError:
        raise LabError(f"the cluster in lab {lab.name} has no available leader; deploy it first "
                       f"(qlab --lab {lab.name} up)") from None
    password = cluster.nodes[0].exec("cat", "/etc/qluster/db-password").stdout.strip()
    run_id = f"s{seed}t{int(time.time())}"
    log_dir = lab.state_dir / "chaos" / run_id
    log_dir.mkdir(parents=True, exist_ok=True)
    json_path = json_path or log_dir / "result.json"
    prepare(cluster, run_id)

    nemesis = Nemesis(cluster, log)
    plan = schedule(seed, events)
    probes = Probes(cluster, log_dir)
    clients = Clients(cluster, run_id, password, seed, log_dir, use_pooler=use_pooler)
    log(f"run {run_id}: {events} events, seed {seed}, writers via {', '.join(clients.paths)}"
        + ("" if clients.use_pooler else " (the pooler's port does not answer: direct only)")
        + f"; logs in {log_dir}")
    started = time.time()
    load = LoadSampler().start()
    final_map, converged_after, data = None, None, None
    try:
        probes.start()
        clients.start()
        wait_until(lambda: clients.writes.ids("insert", "ok"), 60, 0.5, "a first acknowledged write")
        stop = threading.Event()
        timer = threading.Timer(max_seconds, stop.set) if max_seconds else None
        if timer:
            timer.daemon = True
            timer.start()
        nemesis.run(plan, stop)
        if timer:
            timer.cancel()
        if stop.is_set():
            log(f"time is up after {len(nemesis.records)} of {events} events ({max_seconds / 60:g} min)")
    finally:
        healed = nemesis.heal_all()
        if healed:
            log("healed what was left: " + ", ".join(healed))
        try:
            log("waiting for the cluster to converge")
            final_map, converged_after = converge(cluster, converge_timeout)
            if converged_after is not None:
                # Writers keep going for a moment on the converged cluster, then stop.
                wait_until(lambda: _wrote_since(clients, time.time() - 1), 60, 0.5, "writes after convergence")
        finally:
            clients.stop()
            probes.stop()
            load.stop()
    records = clients.writes.snapshot()
    save_jsonl(log_dir / "writes.jsonl", records)
    save_jsonl(log_dir / "probes.jsonl", [vars(w) for w in probes.snapshot()])
    annotate(nemesis.records, records, time.time())
    if final_map is not None:
        leader = next(m["name"] for m in final_map["members"] if m["id"] == final_map["leader"])
        data = dump(cluster, leader, run_id)
    verdict = judge(clients.writes, probes.snapshot(), data, final_map, converged_after)
    result = {
        "run": run_id, "lab": lab.name, "seed": seed, "ok": verdict.ok, "events_planned": events,
        "max_minutes": max_seconds / 60 if max_seconds else None,
        "duration_s": time.time() - started, "paths": list(clients.paths),
        "events": nemesis.records, "clients": clients.writes.counts(),
        "checks": [vars(c) for c in verdict.checks], **verdict.facts,
        "by_kind": by_kind(nemesis.records),
        "write_gap_s": distribution([e.get("write_gap_s") for e in nemesis.records if e.get("start")]),
        "load_average_1m": load.summary(), "cpus": os.cpu_count(), "log_dir": str(log_dir),
        # Every write whose outcome is unknown; the acknowledged and refused ones are counted above.
        "unknown_writes": [r for r in records if r["r"] == "unknown"],
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    log(summary(result))
    log(f"written {json_path}")
    return result


def prepare(cluster: Cluster, run_id: str) -> None:
    """The tables (on the leader, through its local socket) and this run's accounts."""
    leader = cluster.leader()
    if leader is None:
        raise LabError("no agent knows a leader: the schema cannot be created")
    remote.once(cluster.hosts[leader], ["sql", LOCAL_DSN, SCHEMA.format(
        run=run_id, balance=INITIAL_BALANCE, last=ACCOUNTS - 1)], user="qhb")


def _wrote_since(clients: Clients, moment: float) -> bool:
    return any(r["r"] == "ok" and r["t1"] >= moment for r in clients.writes.snapshot()[-200:])


def save_jsonl(path: Path, rows: list[dict]) -> None:
    """Every record of the run, one JSON object a line (the run's log directory keeps them)."""
    with open(path, "w") as out:
        for row in rows:
            out.write(json.dumps(row, separators=(",", ":")) + "\n")


class LoadSampler:
    """The machine's 1-minute load average every 10 s while the run lasts (a busy machine slows
    every failover: the figures are read next to it)."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="load-sampler", daemon=True)

    def start(self) -> "LoadSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while True:
            self.samples.append(round(os.getloadavg()[0], 2))
            if self._stop.wait(self.every_s):
                return

    def summary(self) -> dict | None:
        if not self.samples:
            return None
        return {"samples": len(self.samples), "min": min(self.samples), "mean": round(sum(self.samples) / len(self.samples), 2),
                "max": max(self.samples)}
