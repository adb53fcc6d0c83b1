"""Leader re-election of the consensus layer alone, over real multicast, default timing profile.

Three consensus-only node processes (the agent's tests/consensus_net/node.py:
default_cluster_settings(), tick 50 ms, the seed's udp defaults), each in its own network namespace on 10.77.200.0/24
(tests/netns.py). Per repetition: SIGKILL the leader's process, then wait until every survivor
names the same new leader, which says it leads. The figure is from the kill to the moment the
last survivor first saw that leader (each node stamps it in its status file with CLOCK_MONOTONIC,
machine-wide), so the bench's polling adds nothing. Then the killed node is restarted with its
data and all three must agree again before the next repetition.
Prints min/median/p95/max and writes JSON. Run as root:

    .venv/bin/python bench/consensus_failover.py --runs 50 --json bench/results/consensus_failover.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "files" / "qluster_agent"))
from qluster_agent.config.runtime import default_cluster_settings  # noqa: E402
from tests.consensus_net.cluster import ConsensusCluster  # noqa: E402
from tests.netns import NetLab, unavailable_reason  # noqa: E402


def one_failover(cluster: ConsensusCluster) -> dict:
    """Kill the leader; seconds until all survivors know the new one. Restarts the killed node."""
    old_leader, old_term = cluster.wait_agreed(cluster.hosts)
    killed_at = cluster.kill(old_leader)
    survivors = cluster.running()
    leader, term = cluster.wait_agreed(survivors, timeout=30, unless=lambda view: view[0] == old_leader)
    known_at = max(status["leader_since"] for status in cluster.statuses(survivors).values())
    observed_at = time.monotonic()
    cluster.start(old_leader)
    cluster.wait_agreed(cluster.hosts, timeout=30)
    return {"seconds": known_at - killed_at, "observed_seconds": observed_at - killed_at,
            "killed": old_leader, "new_leader": leader, "terms": term - old_term}


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: a value that was measured, never an interpolation."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "p95": percentile(values, 0.95),
            "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--json", default="bench/results/consensus_failover.json")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    runs = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="consensus-failover-") as workdir, NetLab() as lab, \
            ConsensusCluster(lab, Path(workdir), args.nodes) as cluster:
        cluster.start_all()
        for number in range(1, args.runs + 1):
            run = one_failover(cluster)
            runs.append(run)
            print(f"{number:3d}: node {run['killed']} killed -> node {run['new_leader']} known by all in "
                  f"{run['seconds']:.3f} s ({run['terms']} term(s))", flush=True)
    seconds = [run["seconds"] for run in runs]
    result = {
        "what": "SIGKILL of the leader process -> new leader known by every survivor",
        "nodes": args.nodes, "tick_interval": 0.05,
        "cluster_settings": dataclasses.asdict(default_cluster_settings()),
        "runs": runs, "seconds": summary(seconds),
        "elections_needing_more_than_one_term": sum(run["terms"] > 1 for run in runs),
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "cpus": os.cpu_count(),
    }
    figures = result["seconds"]
    print(f"{len(runs)} failovers, {args.nodes} nodes: min {figures['min']:.3f} s, median {figures['median']:.3f} s, "
          f"p95 {figures['p95']:.3f} s, max {figures['max']:.3f} s "
          f"({result['elections_needing_more_than_one_term']} needed more than one term; "
          f"load average {load_before[0]:.1f} before, {result['loadavg_after'][0]:.1f} after)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
