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
    """Three runtimes whose applied entries b"timing:e,h,l" set their config, as the agent does."""

    def __init__(self, timing: Tuple[int, int, int], seed: int) -> None:
        self.timing = timing
        self.seed = seed
        self.storages = {node: MemoryStorage() for node in (1, 2, 3)}
        self.clock = Clock()
        self.hub = Hub()
        self.runtimes: Dict[int, ConsensusRuntime] = {}
        self.lines: List[str] = []
        voters = ConfState(frozenset({1, 2, 3}))
        for node in (1, 2, 3):
            self.start(node, voters)

    def start(self, node: int, voters=None) -> None:
        """A runtime on the node's storage (a restart when the node ran before), opened."""
        self.runtimes[node] = ConsensusRuntime(
            config(node, self.timing), self.storages[node], FakeTransport(self.hub, node), tick_interval=TICK,
            apply=lambda entry, node=node: self._apply(node, entry.data), bootstrap=voters,
            rng=random.Random(self.seed * 10 + node), clock=self.clock, logger=self.lines.append)
        self.runtimes[node].open()

    def _apply(self, node: int, data: bytes) -> None:
        if data.startswith(b"timing:"):
            timing = tuple(int(part) for part in data[len(b"timing:"):].split(b","))
            self.runtimes[node].set_config(config(node, timing))

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
    # A change during a change: the longer timeout of the last two targets only, and the
    # shorter of the lease in force and the previous target's.
    third = config(1, (20, 2, 12))
    blended = old.while_changing_to(new)
    assert blended.while_changing_to(third, new).timing() == (50, 1, 8)
    assert new.while_changing_to(old).while_changing_to(third, old).timing() == (20, 1, 8)


def test_a_restarted_node_takes_the_last_timing_of_its_log_at_once():
    # Seen on the lab: a node restarted after 100 POST /config changes replayed them all, each
    # blended with the one before, and waited the longest timeout of them all for a minute: a
    # failover then took 30 s.
    cluster = TimedCluster(LAN, seed=3)
    cluster.run(10.0)
    for timing in (SLOW, (300, 20, 180), SLOW, LAN):
        cluster.change_timing(timing)
    cluster.run(30.0)
    follower = next(node for node in cluster.runtimes if node != cluster.leader())
    cluster.start(follower)  # a restart: the same storage, the log replayed from it
    cluster.run(1.0)
    raft = cluster.runtimes[follower]._require_node().raft
    assert raft.cfg.timing() == config(follower, LAN).timing() and raft.target_cfg is None


@pytest.mark.parametrize("seed", range(3))
def test_a_quick_series_of_changes_causes_no_election_and_ends_on_the_last(seed):
    rng = random.Random(seed)
    cluster = TimedCluster(LAN, seed)
    cluster.run(10.0)
    leader, term = cluster.leader(), cluster.runtimes[1].status().term
    shapes = [LAN, SLOW, (20, 2, 12), (40, 9, 24), (16, 2, 9)]
    for _change in range(12):
        cluster.change_timing(rng.choice(shapes))
    last = rng.choice(shapes)
    cluster.change_timing(last)
    cluster.run(2 * 2 * 50 * TICK + 1)  # past the longest blend (two of the longest timeouts)
    assert cluster.leader() == leader
    assert {rt.status().term for rt in cluster.runtimes.values()} == {term}
    for node, runtime in cluster.runtimes.items():
        assert runtime._require_node().raft.cfg.timing() == config(node, last).timing()
