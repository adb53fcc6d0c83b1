"""A timing change (POST /config) spreads through the cluster without an election.

Each node applies a committed change when it learns the commit, so for a while the leader and
the followers run different timings. Before the blend (CoreConfig.while_changing_to) a leader
that slowed its heartbeat at once made the followers, still on the short timeout, elect another
leader; and a leader that shortened its lease at once lost it before its faster beat was answered.
"""
from __future__ import annotations

import random
from typing import Dict, List, Tuple

import pytest

from qluster_agent.raft import ConfState, CoreConfig, Role
from qluster_agent.raft.runtime import ConsensusRuntime
from qluster_agent.storage import MemoryStorage

from .test_runtime import Clock, FakeTransport, Hub

TICK = 0.1
LAN = (10, 1, 8)  # election, heartbeat, lease ticks: the shape of the default 800ms/100ms
# Seed 000 §10.5 (node-timeout = heartbeat-interval = 5 s) as the runtime mapped it before:
# the heartbeat capped one tick below the lease.
SLOW = (50, 29, 30)


def config(node_id: int, timing: Tuple[int, int, int]) -> CoreConfig:
    election, heartbeat, lease = timing
    return CoreConfig(node_id=node_id, election_ticks=election, heartbeat_ticks=heartbeat, lease_ticks=lease)


class TimedCluster:
    """Three runtimes whose applied entries b"timing:e,h,l" reconfigure them, as the agent does."""

    def __init__(self, timing: Tuple[int, int, int], seed: int) -> None:
        self.clock = Clock()
        self.hub = Hub()
        self.runtimes: Dict[int, ConsensusRuntime] = {}
        self.lines: List[str] = []
        voters = ConfState(frozenset({1, 2, 3}))
        for node in (1, 2, 3):
            self.runtimes[node] = ConsensusRuntime(
                config(node, timing), MemoryStorage(), FakeTransport(self.hub, node), tick_interval=TICK,
                apply=lambda entry, node=node: self._apply(node, entry.data), bootstrap=voters,
                rng=random.Random(seed * 10 + node), clock=self.clock, logger=self.lines.append)
            self.runtimes[node].open()

    def _apply(self, node: int, data: bytes) -> None:
        if data.startswith(b"timing:"):
            timing = tuple(int(part) for part in data[len(b"timing:"):].split(b","))
            self.runtimes[node].reconfigure(config(node, timing))

    def run(self, seconds: float) -> None:
        for _step in range(int(round(seconds / TICK))):
            self.clock.now += TICK
            for _round in range(3):
                for runtime in self.runtimes.values():
                    runtime.run_once()

    def leader(self) -> int:
        leaders = [node for node, rt in self.runtimes.items() if rt.status().role == Role.LEADER]
        assert len(leaders) == 1, self.lines[-20:]
        return leaders[0]

    def change_timing(self, timing: Tuple[int, int, int]) -> None:
        future = self.runtimes[self.leader()].propose(b"timing:" + ",".join(map(str, timing)).encode())
        self.run(1.0)
        assert future.done() and future.exception() is None


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("before, after", [(LAN, SLOW), (SLOW, LAN)], ids=["slower", "faster"])
def test_a_timing_change_never_causes_an_election(before, after, seed):
    cluster = TimedCluster(before, seed)
    cluster.run(10.0)
    leader, term = cluster.leader(), cluster.runtimes[1].status().term
    before_change = len(cluster.lines)
    cluster.change_timing(after)
    cluster.run(30.0)  # well past the blend: the new timing alone is in force
    assert cluster.leader() == leader
    assert {rt.status().term for rt in cluster.runtimes.values()} == {term}
    since = cluster.lines[before_change:]
    assert not [line for line in since if "lost quorum" in line or "pre-candidate" in line]


@pytest.mark.parametrize("before, after", [(LAN, SLOW), (SLOW, LAN)], ids=["slower", "faster"])
def test_the_new_timing_is_in_force_after_the_blend_and_a_failover_follows_it(before, after):
    cluster = TimedCluster(before, seed=7)
    cluster.run(10.0)
    cluster.change_timing(after)
    cluster.run(30.0)
    for node, runtime in cluster.runtimes.items():
        assert runtime._require_node().raft.cfg.timing() == config(node, after).timing()
    old = cluster.leader()
    cluster.hub.cut.add(old)
    election, _heartbeat, lease = after
    cluster.run((lease + 1) * TICK)
    assert cluster.runtimes[old].status().role != Role.LEADER  # stepped down by the new lease
    cluster.run(4 * election * TICK)
    others = [node for node in cluster.runtimes if node != old]
    assert [cluster.runtimes[node].status().role for node in others].count(Role.LEADER) == 1


def test_the_blend_waits_the_longer_timeout_beats_the_shorter_interval_and_keeps_the_old_lease():
    old, new = config(1, LAN), config(1, SLOW)
    assert old.while_changing_to(new).timing() == (50, 1, 8)
    assert new.while_changing_to(old).timing() == (50, 1, 30)
    assert old.change_ticks(new) == new.change_ticks(old) == 100
