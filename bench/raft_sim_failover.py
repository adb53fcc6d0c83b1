"""Failover time of the consensus core alone, in ticks and in seconds for a tick interval.

A 3-node (or --nodes) cluster of RawNodes on a lossless in-memory network that delivers every
message within the tick it was sent; after a random warm-up the leader is killed, and the time
until every survivor knows the same new leader is measured.  This bounds what the real agent
can achieve: the real figure adds network and fsync latency to it.

    python bench/raft_sim_failover.py --runs 50 --tick 0.05
"""
from __future__ import annotations

import argparse
import random
import statistics
from typing import Dict, List, Optional

from qluster_agent.raft import ConfState, CoreConfig, RawNode, Role


def one_failover(seed: int, nodes: int, config: Dict[str, int]) -> int:
    rng = random.Random(seed)
    voters = ConfState(frozenset(range(1, nodes + 1)))
    cluster = {i: RawNode(CoreConfig(node_id=i, **config), random.Random(rng.getrandbits(32)), bootstrap=voters,
                          logger=lambda line: None) for i in voters.voters}
    dead: set = set()

    def step_tick() -> None:
        for i, node in cluster.items():
            if i not in dead:
                node.tick()
        for _unused in range(20):  # deliver until quiet: messages arrive within the tick
            queue = []
            for i, node in cluster.items():
                if i not in dead and node.has_ready():
                    rd = node.ready()
                    queue.extend(rd.messages)
                    node.advance(rd)
            queue = [m for m in queue if m.to not in dead]
            if not queue:
                break
            for m in queue:
                cluster[m.to].step(m)

    def agreed_leader() -> Optional[int]:
        leaders = {cluster[i].status().leader for i in cluster if i not in dead}
        if len(leaders) == 1:
            leader = leaders.pop()
            if leader and leader not in dead and cluster[leader].status().role == Role.LEADER:
                return leader
        return None

    for _unused in range(1000):
        step_tick()
        if agreed_leader():
            break
    for _unused in range(rng.randint(5, 50)):
        step_tick()
    dead.add(agreed_leader())  # type: ignore[arg-type]
    for ticks in range(1, 10000):
        step_tick()
        if agreed_leader():
            return ticks
    raise RuntimeError(f"seed {seed}: no new leader")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--tick", type=float, default=0.05, help="seconds per tick")
    parser.add_argument("--election", type=int, default=10)
    parser.add_argument("--heartbeat", type=int, default=2)
    parser.add_argument("--lease", type=int, default=8)
    args = parser.parse_args()
    config = dict(election_ticks=args.election, heartbeat_ticks=args.heartbeat, lease_ticks=args.lease,
                  prevote_ticks=args.election, vote_ticks=args.election)
    samples: List[int] = sorted(one_failover(seed, args.nodes, config) for seed in range(args.runs))
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    row = {"min": samples[0], "median": statistics.median(samples), "p95": p95, "max": samples[-1]}
    print(f"{args.runs} failovers, {args.nodes} nodes, election={args.election} heartbeat={args.heartbeat} "
          f"lease={args.lease} ticks, tick={args.tick}s")
    print("  ".join(f"{k}={v} ticks ({v * args.tick:.2f}s)" for k, v in row.items()))


if __name__ == "__main__":
    main()
