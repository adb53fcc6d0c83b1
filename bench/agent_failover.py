"""Failover and switchover of the real agent with real PostgreSQL 15, on one machine.

Three agents and three databases on 127.0.0.1-3 (the integration tests' harness). A writer
inserts a row every 10 ms through a multi-host connection string that finds the writable node
(target_session_attrs=read-write), as an application would. Measured per repetition:
  failover:   kill -9 of the leader's agent and database -> first successful write
  switchover: POST /switchover -> the gap between the last write before and the first after,
              and whether the named target took over
Prints min/median/p95/max, the 1-minute load average seen at each repetition, and writes JSON.
Every row the writer saw acknowledged is checked on the final leader. Run as root:

    .venv/bin/python bench/agent_failover.py --failovers 20 --switchovers 10 --json bench/results/agent_failover.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "files" / "qluster_agent"))
from tests.integration.harness import Cluster, Writer, wait_for  # noqa: E402


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"runs": len(values), "min": ordered[0], "median": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--failovers", type=int, default=20)
    parser.add_argument("--switchovers", type=int, default=10)
    parser.add_argument("--json", default="bench/results/agent_failover.json")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the agents run PostgreSQL as the postgres user", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="qluster-bench-", dir="/tmp"))
    cluster = Cluster(root)
    cluster.prepare()
    failovers: list[float] = []
    gaps: list[float] = []
    loads: list[float] = []
    missed_target = 0
    lost = 0
    try:
        n1, n2, n3 = cluster.nodes
        n1.start()
        wait_for(lambda: cluster.leader([n1]) is n1 and n1.writable(), 60, "bootstrap")
        n1.query("CREATE TABLE bench(v text PRIMARY KEY, t timestamptz DEFAULT now())")
        for node in (n2, n3):
            node.start(marker=True)
            wait_for(lambda: cluster.healthy([n for n in cluster.nodes if n.running()]), 120, "followers")
        writer = Writer(cluster, "bench").start()
        for run in range(args.failovers):
            wait_for(writer.writing_recently, 30, "steady writes")
            leader = next(n for n in cluster.nodes if n.pg_port == writer.commits[-1][1])
            killed = time.monotonic()
            leader.kill_agent()
            leader.kill_database()
            first = writer.first_commit_after(killed, not_on=leader.pg_port)
            failovers.append(first - killed)
            loads.append(os.getloadavg()[0])
            print(f"failover {run + 1}: {first - killed:.2f} s (load {loads[-1]:.1f})", flush=True)
            leader.start()
            wait_for(lambda: cluster.healthy(cluster.nodes), 180, "the old leader to rejoin")
        for run in range(args.switchovers):
            wait_for(writer.writing_recently, 30, "steady writes")
            leader = next(n for n in cluster.nodes if n.pg_port == writer.commits[-1][1])
            target = next(n for n in cluster.nodes if n is not leader)
            asked = time.monotonic()
            leader.api("/switchover", "POST", {"leader": target.node_id})
            first = writer.first_commit_after(asked, not_on=leader.pg_port)
            # Write unavailability: from the old primary's last commit to the new one's first.
            gap = first - writer.last_commit_on(leader.pg_port)
            gaps.append(gap)
            loads.append(os.getloadavg()[0])
            port = next(c[1] for c in list(writer.commits) if c[0] >= first)
            taker = next(n for n in cluster.nodes if n.pg_port == port)
            note = "" if taker is target else f"; node {taker.number} took over, not the named node {target.number}"
            missed_target += port != target.pg_port
            print(f"switchover {run + 1}: write gap {gap:.2f} s (load {loads[-1]:.1f}){note}", flush=True)
            wait_for(lambda: cluster.healthy(cluster.nodes), 180, "the cluster to settle")
        writer.stop()
        final = cluster.leader()
        lost = len(writer.acknowledged() - {r[0] for r in final.query("SELECT v FROM bench")})
    finally:
        cluster.shutdown()
    result = {"failover_kill_to_first_write_s": summary(failovers) if failovers else None,
              "switchover_write_gap_s": summary(gaps) if gaps else None,
              "switchovers_to_another_node_than_named": missed_target,
              "acknowledged_rows_lost": lost,
              "load_average_1m": summary(loads) if loads else None}
    for name, stats in result.items():
        if isinstance(stats, int):
            print(f"{name}: {stats}")
        elif stats:
            print(f"{name}: min {stats['min']:.2f}  median {stats['median']:.2f}  p95 {stats['p95']:.2f}  "
                  f"max {stats['max']:.2f}  ({stats['runs']} runs)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
