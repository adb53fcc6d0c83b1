"""The runtime loop with an in-process fake transport and a fake clock, driven by hand."""
from __future__ import annotations

import random
import threading
from typing import Dict, List, Optional, Tuple

import pytest

from qluster_agent.raft import ConfChange, ConfChangeType, ConfState, CoreConfig, ProposalDropped, RawNode, Role
from qluster_agent.raft.codec import encode
from qluster_agent.raft.runtime import READ_POSITION_FOR, ConsensusRuntime
from qluster_agent.raft.types import Message, MessageType
from qluster_agent.storage import DiskStorage, MemoryStorage


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Hub:
    """Queues between fake transports; `cut` drops traffic to and from a node."""

    def __init__(self) -> None:
        self.boxes: Dict[int, List[Tuple[int, bytes]]] = {}
        self.cut: set = set()
        self.sent: List[Tuple[int, Optional[int], bytes]] = []


class FakeTransport:
    def __init__(self, hub: Hub, node_id: int) -> None:
        self.hub, self.node_id = hub, node_id
        self.wakes = 0
        hub.boxes[node_id] = []

    def send(self, to: Optional[int], payload: bytes) -> None:
        self.hub.sent.append((self.node_id, to, payload))
        targets = [to] if to is not None else [n for n in self.hub.boxes if n != self.node_id]
        for target in targets:
            if target in self.hub.boxes and not {self.node_id, target} & self.hub.cut:
                self.hub.boxes[target].append((self.node_id, payload))

    def recv(self, timeout: float, messages_wake: bool = True) -> List[Tuple[int, bytes]]:
        box, self.hub.boxes[self.node_id] = self.hub.boxes[self.node_id], []
        return box

    def wake(self) -> None:
        self.wakes += 1  # recv() never sleeps here: the tests step the clock themselves

    def drain(self) -> None:
        pass  # nothing waits outside the boxes here

    def close(self) -> None:
        pass


class Cluster:
    def __init__(self, n: int, storages=None, vote_context_now=None) -> None:
        self.clock = Clock()
        self.hub = Hub()
        self.applied: Dict[int, List[bytes]] = {i: [] for i in range(1, n + 1)}
        voters = ConfState(frozenset(range(1, n + 1)))
        self.runtimes: Dict[int, ConsensusRuntime] = {}
        for i in range(1, n + 1):
            storage = storages[i] if storages else MemoryStorage()
            self.runtimes[i] = ConsensusRuntime(
                CoreConfig(node_id=i), storage, FakeTransport(self.hub, i), tick_interval=0.1,
                apply=lambda e, i=i: self.applied[i].append(e.data), bootstrap=voters,
                rng=random.Random(i), clock=self.clock, logger=lambda line: None,
                vote_context_now=(vote_context_now or {}).get(i))
            self.runtimes[i].open()

    def run(self, seconds: float) -> None:
        """Advance time in tick-sized steps; every node runs its loop a few times per step."""
        for _unused in range(int(round(seconds / 0.1))):
            self.clock.now += 0.1
            for _unused in range(3):
                for rt in self.runtimes.values():
                    rt.run_once()

    def leader(self) -> Optional[int]:
        leaders = [i for i, rt in self.runtimes.items() if rt.status().role == Role.LEADER]
        return leaders[0] if len(leaders) == 1 else None


def test_a_leader_is_elected_and_known_by_all():
    c = Cluster(3)
    c.run(3.0)
    leader = c.leader()
    assert leader is not None
    assert {rt.status().leader for rt in c.runtimes.values()} == {leader}
    assert c.runtimes[1].status().voters == frozenset({1, 2, 3})


def test_a_proposal_future_resolves_when_committed_and_applied():
    c = Cluster(3)
    c.run(3.0)
    future = c.runtimes[c.leader()].propose(b"hello")
    c.run(0.3)
    index = future.result(timeout=0)
    assert all(b"hello" in applied for applied in c.applied.values())
    assert c.runtimes[c.leader()].status().applied >= index


def test_a_proposal_to_a_follower_fails_at_once():
    c = Cluster(3)
    c.run(3.0)
    follower = next(i for i in c.runtimes if i != c.leader())
    future = c.runtimes[follower].propose(b"x")
    c.run(0.1)
    with pytest.raises(ProposalDropped, match="not the leader"):
        future.result(timeout=0)


def test_killing_the_leader_elects_another_within_two_seconds():
    c = Cluster(3)
    c.run(3.0)
    old = c.leader()
    c.hub.cut.add(old)
    c.run(0.9)  # lease 8 ticks: the old leader has stepped down
    assert c.runtimes[old].status().role != Role.LEADER
    c.run(1.1)
    new = [i for i, rt in c.runtimes.items() if i != old and rt.status().role == Role.LEADER]
    assert len(new) == 1


def test_vote_context_reaches_the_core_and_vetoes():
    c = Cluster(3)
    c.runtimes[1].set_vote_context(10)
    c.runtimes[2].set_vote_context(900)
    c.runtimes[3].set_vote_context(500)
    c.run(5.0)
    assert c.leader() == 2  # the only node no other node may veto


def test_a_vote_is_answered_with_the_position_read_at_that_moment():
    # Node 3's HA loop last set 10, but its database has since confirmed WAL up to 900 to the
    # old leader (a synchronous standby). Node 1 holds only 500; node 2 is cut off. Answered
    # with the stale 10, node 3 would elect node 1 and lose what it confirmed.
    c = Cluster(3, vote_context_now={3: lambda: 900})
    for node, context in ((1, 500), (2, 500), (3, 10)):
        c.runtimes[node].set_vote_context(context)
    c.hub.cut.add(2)
    c.run(6.0)
    assert c.leader() == 3


def test_a_failing_position_read_answers_with_the_last_context():
    def broken() -> int:
        raise RuntimeError("the database does not answer")

    c = Cluster(3, vote_context_now={1: broken, 2: broken, 3: broken})
    c.run(3.0)
    assert c.leader() is not None
    assert sum(rt.counters.get("vote_context_failed", 0) for rt in c.runtimes.values()) >= 1


def test_a_vote_context_set_before_a_timeout_now_arrives_is_what_the_campaign_carries():
    c = Cluster(3)
    c.run(3.0)
    leader = c.leader()
    target, other = [i for i in c.runtimes if i != leader]
    c.runtimes[leader].set_vote_context(500)  # its shutdown checkpoint
    c.runtimes[other].set_vote_context(500)
    c.runtimes[target].set_vote_context(100)
    c.run(0.3)
    # The target receives the last WAL; the leader, having heard so, hands over at once.
    c.runtimes[target].set_vote_context(900)
    c.runtimes[leader].transfer_leader(target)
    c.runtimes[leader].run_once()  # the TimeoutNow is in the target's inbox before it runs again
    c.run(1.0)
    assert c.leader() == target


def test_a_timeout_now_campaign_carries_the_position_read_when_it_arrives():
    # The old leader read the target's database directly (500, its shutdown checkpoint) and
    # handed over before the target's HA loop had set more than 100. Campaigning with 100, the
    # target would lose both votes and leave the cluster to a timed-out election.
    held = {1: 0, 2: 0, 3: 0}
    c = Cluster(3, vote_context_now={i: (lambda i=i: held[i]) for i in held})
    c.run(3.0)
    leader = c.leader()
    target = next(i for i in c.runtimes if i != leader)
    for node in c.runtimes:
        held[node] = 500 if node != target else 100
        c.runtimes[node].set_vote_context(held[node])
    c.run(0.3)
    held[target] = 500  # in its database, not yet in its HA loop's context
    c.runtimes[leader].transfer_leader(target)
    c.runtimes[leader].run_once()
    c.run(1.0)
    assert c.leader() == target


def test_membership_change_and_transfer_through_the_api():
    c = Cluster(3)
    c.run(3.0)
    leader = c.leader()
    target = next(i for i in c.runtimes if i != leader)
    c.runtimes[leader].transfer_leader(target)
    c.run(0.5)
    assert c.leader() == target
    future = c.runtimes[target].propose_conf_change(ConfChange(ConfChangeType.ADD_OBSERVER, 9))
    c.run(0.3)
    future.result(timeout=0)
    assert c.runtimes[1].status().observers == frozenset({9})


def test_undecodable_and_spoofed_datagrams_are_counted_not_fatal():
    c = Cluster(3)
    c.run(3.0)
    c.hub.boxes[1].append((2, b"garbage"))
    c.hub.boxes[1].append((2, encode(Message(MessageType.HEARTBEAT, 3, 1, term=99))))
    c.run(0.1)
    assert c.runtimes[1].counters["undecodable"] == 1
    assert c.runtimes[1].counters["spoofed"] == 1
    assert c.runtimes[1].status().term < 99


def test_messages_leave_only_after_the_state_they_depend_on_is_saved():
    order: List[str] = []

    class RecordingStorage(MemoryStorage):
        def save(self, hard_state, entries, snapshot, sync):
            if sync:
                order.append("sync")
            super().save(hard_state, entries, snapshot, sync)

    class RecordingTransport(FakeTransport):
        def send(self, to, payload):
            order.append("send")
            super().send(to, payload)

    clock = Clock()
    rt = ConsensusRuntime(CoreConfig(node_id=1), RecordingStorage(), RecordingTransport(Hub(), 1),
                          tick_interval=0.1, apply=lambda e: None, bootstrap=ConfState(frozenset({1, 2, 3})),
                          rng=random.Random(1), clock=clock, logger=lambda line: None)
    rt.open()
    order.clear()
    rt.campaign()
    rt.run_once()  # pre-vote only: nothing to sync
    assert order == ["send", "send"]


def test_restart_from_disk_keeps_the_term(tmp_path):
    storages = {i: DiskStorage(str(tmp_path / f"n{i}")) for i in (1, 2, 3)}
    c = Cluster(3, storages)
    c.run(3.0)
    term = c.runtimes[1].status().term
    for rt in c.runtimes.values():
        rt.stop()
    again = Cluster(3, {i: DiskStorage(str(tmp_path / f"n{i}")) for i in (1, 2, 3)})
    assert again.runtimes[1].status().term == term
    again.run(3.0)
    assert again.leader() is not None


def test_a_lone_node_runs_on_its_own_thread():
    rt = ConsensusRuntime(CoreConfig(node_id=1), MemoryStorage(), FakeTransport(Hub(), 1), tick_interval=0.01,
                          apply=lambda e: None, bootstrap=ConfState(frozenset({1})), logger=lambda line: None)
    rt.start()
    try:
        rt.campaign()
        assert rt.wait_status(lambda s: s.is_leader, timeout=10) is not None
        assert rt.propose(b"x").result(timeout=10) > 0
    finally:
        rt.stop()


def test_a_lagging_node_gets_the_snapshot_through_restore():
    clock, hub = Clock(), Hub()
    state = {i: [] for i in (1, 2, 3)}
    restored = {i: [] for i in (1, 2, 3)}

    def make(i: int) -> ConsensusRuntime:
        def apply(entry, i=i):
            if entry.data:
                state[i].append(entry.data)

        def restore(snap, i=i):
            restored[i].append(snap.index)
            state[i][:] = [x for x in snap.data.split(b",") if x]

        return ConsensusRuntime(CoreConfig(node_id=i, snapshot_threshold=3), MemoryStorage(),
                                FakeTransport(hub, i), tick_interval=0.1, apply=apply, restore=restore,
                                snapshot_source=lambda index, i=i: b",".join(state[i]),
                                bootstrap=ConfState(frozenset({1, 2, 3})), rng=random.Random(i), clock=clock,
                                logger=lambda line: None)

    runtimes = {i: make(i) for i in (1, 2, 3)}
    for rt in runtimes.values():
        rt.open()

    def run(seconds: float) -> None:
        for _unused in range(int(round(seconds / 0.1))):
            clock.now += 0.1
            for _unused in range(3):
                for rt in runtimes.values():
                    rt.run_once()

    run(3.0)
    leader = next(i for i, rt in runtimes.items() if rt.status().is_leader)
    lagging = next(i for i in runtimes if i != leader)
    hub.cut.add(lagging)
    futures = [runtimes[leader].propose(b"v%d" % k) for k in range(8)]
    run(1.0)
    assert all(f.done() for f in futures)
    hub.cut.clear()
    run(2.0)
    assert restored[lagging] and restored[lagging][-1] > 1  # a real snapshot, not the bootstrap one
    assert state[lagging] == state[leader] == [b"v%d" % k for k in range(8)]


def test_an_abstaining_node_answers_no_vote_and_the_others_decide_by_their_positions():
    # Node 2 cannot tell how far its WAL goes (its data directory was deleted): it must not help
    # node 1, which lacks what node 3 holds, to win. Its agent campaigns with no position (0).
    c = Cluster(3, vote_context_now={2: lambda: None})
    for node, context in ((1, 100), (2, 0), (3, 900)):
        c.runtimes[node].set_vote_context(context)
    c.run(6.0)
    assert c.leader() == 3
    assert c.runtimes[2].counters["votes_abstained"] >= 1


def test_leader_changes_and_step_downs_are_counted_once_each():
    c = Cluster(3)
    c.run(3.0)
    old = c.leader()
    assert all(rt.counters["leader_changes"] == 0 for rt in c.runtimes.values())  # the first is no change
    c.hub.cut.add(old)
    c.run(3.0)
    c.hub.cut.discard(old)
    c.run(2.0)
    assert c.leader() not in (None, old)
    assert c.runtimes[old].counters["stepped_down"] == 1
    assert all(rt.counters["leader_changes"] == 1 for rt in c.runtimes.values())


def test_a_late_tick_is_counted_by_how_late_it_came():
    c = Cluster(1)
    runtime = c.runtimes[1]
    due = runtime._require_node().ticks_until_due()  # the follower's election timeout
    c.clock.now += 0.1 * due + 0.3  # the loop comes 0.3 s after that due tick
    runtime.run_once()
    assert runtime.late_counts == {0.05: 1, 0.1: 1, 0.2: 1, 0.5: 0, 1.0: 0}
    assert 0.29 < runtime.late_max < 0.31


def _fresh_runtime(node_id: int, storage, voters: frozenset) -> ConsensusRuntime:
    hub = Hub()
    return ConsensusRuntime(CoreConfig(node_id=node_id), storage, FakeTransport(hub, node_id), tick_interval=0.1,
                            apply=lambda e: None, bootstrap=ConfState(voters), rng=random.Random(node_id),
                            clock=Clock(), logger=lambda line: None)


def test_a_new_cluster_of_one_voter_leads_as_soon_as_it_opens_and_keeps_its_term_on_disk(tmp_path):
    # The first node of a new cluster has nobody to wait for: no election timeout before its
    # database can be created (the clock never moves here).
    storage = DiskStorage(tmp_path)
    runtime = _fresh_runtime(7, storage, frozenset({7}))
    runtime.open()
    status = runtime.status()
    assert (status.role, status.leader, status.term, status.voters) == (Role.LEADER, 7, 1, frozenset({7}))
    future = runtime.propose(b"first")
    runtime.run_once()
    assert future.result(timeout=0) == status.commit + 1
    runtime.stop()
    hard_state, _snapshot, _entries = DiskStorage(tmp_path).load()
    assert (hard_state.term, hard_state.vote) == (1, 7)


def test_a_new_cluster_of_several_voters_still_waits_for_an_election_timeout():
    # Campaigning at once on every voter would only split the vote.
    runtime = _fresh_runtime(1, MemoryStorage(), frozenset({1, 2, 3}))
    runtime.open()
    assert (runtime.status().role, runtime.status().term) == (Role.FOLLOWER, 0)


def test_a_nudge_makes_a_waiting_caller_look_at_its_condition_again():
    # The HA loop waits for consensus news or a nudge (a long operation ended): not for its timeout.
    runtime = _fresh_runtime(1, MemoryStorage(), frozenset({1, 2, 3}))
    runtime.open()
    nudged, looked = threading.Event(), threading.Event()
    got: list[object] = []

    def condition(_status) -> bool:
        looked.set()  # looked once: it waits now (nudge() takes the lock only once it does)
        return nudged.is_set()

    waiter = threading.Thread(target=lambda: got.append(runtime.wait_status(condition, 30)))
    waiter.start()
    assert looked.wait(10)
    nudged.set()
    runtime.nudge()
    waiter.join(10)
    assert not waiter.is_alive() and got == [runtime.status()]


@pytest.mark.parametrize("kind, read, handled, abstained", [
    (MessageType.VOTE, lambda: 900, True, 0),
    (MessageType.PRE_VOTE, lambda: 900, True, 0),
    (MessageType.VOTE, lambda: None, False, 1),  # no position to stand by: no answer
    (MessageType.PRE_VOTE, lambda: None, False, 1),
    (MessageType.TIMEOUT_NOW, lambda: 900, True, 0),
    (MessageType.TIMEOUT_NOW, lambda: None, True, 0),  # campaigns with the position it stood by
    (MessageType.HEARTBEAT, lambda: None, True, 0),  # not read for anything else
])
def test_the_vote_position_is_read_again_for_votes_and_timeout_now(kind, read, handled, abstained):
    assert set(READ_POSITION_FOR) == {MessageType.VOTE, MessageType.PRE_VOTE, MessageType.TIMEOUT_NOW}
    # Not started: the runtime's own step before the core's, on a node of its own.
    runtime = ConsensusRuntime(CoreConfig(node_id=2), MemoryStorage(), None, tick_interval=0.05,
                               apply=lambda entry: None, logger=lambda line: None, vote_context_now=read)
    node = RawNode(CoreConfig(node_id=2), random.Random(2), bootstrap=ConfState(frozenset({1, 2, 3})))
    node.set_vote_context(500)
    assert runtime._read_vote_position(node, Message(kind, 2, 1, term=3)) is handled
    assert runtime.counters.get("votes_abstained", 0) == abstained
    assert node.raft.vote_context == (900 if read() is not None else 500)
