"""Behaviour of one RawNode and small clusters that the transcripts do not spell out."""
from __future__ import annotations

import ast
import os
import random
from typing import Dict, List

import pytest

import qluster_agent.raft as raft_pkg
from qluster_agent.raft import (ConfChange, ConfChangeType, ConfState, CoreConfig, Message, MessageType,
                                ProposalDropped, RawNode, Role)
from qluster_agent.storage.memory import MemoryStorage

FORBIDDEN = {"socket", "time", "os", "threading", "asyncio", "logging", "select"}
PURE_MODULES = ["codec.py", "config.py", "core.py", "follower.py", "leader.py", "log.py", "membership.py",
                "progress.py", "quorum.py", "errors.py", "rawnode.py", "ready.py", "types.py"]


@pytest.mark.parametrize("name", PURE_MODULES)
def test_core_modules_import_nothing_impure(name):
    path = os.path.join(os.path.dirname(raft_pkg.__file__), name)
    tree = ast.parse(open(path).read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add((node.module or "").split(".")[0])
    assert not imported & FORBIDDEN


class Net:
    """Minimal harness: persist, send, apply, advance; deliver everything until quiet."""

    def __init__(self, n: int, **options) -> None:
        voters = ConfState(frozenset(range(1, n + 1)))
        self.storage = {i: MemoryStorage() for i in range(1, n + 1)}
        self.nodes: Dict[int, RawNode] = {}
        self.options = options
        self.applied: Dict[int, List[bytes]] = {i: [] for i in range(1, n + 1)}
        self.down: set = set()
        for i in range(1, n + 1):
            self.nodes[i] = RawNode(CoreConfig(node_id=i, **options), random.Random(i), bootstrap=voters)

    def restart(self, i: int) -> None:
        hs, snap, ents = self.storage[i].load()
        self.nodes[i] = RawNode(CoreConfig(node_id=i, **self.options), random.Random(i), hard_state=hs,
                                snapshot=snap, entries=ents)

    def stabilize(self) -> None:
        for _unused in range(200):
            queue: List[Message] = []
            for i, node in self.nodes.items():
                if i in self.down or not node.has_ready():
                    continue
                rd = node.ready()
                self.storage[i].save(rd.hard_state, rd.entries, rd.snapshot, rd.must_sync)
                queue.extend(rd.messages)
                self.applied[i].extend(e.data for e in rd.committed_entries if e.data)
                node.advance(rd)
            queue = [m for m in queue if m.to not in self.down and m.frm not in self.down]
            if not queue:
                return
            for m in queue:
                self.nodes[m.to].step(m)

    def elect(self, i: int) -> None:
        self.nodes[i].campaign()
        self.stabilize()
        assert self.nodes[i].status().role == Role.LEADER


def test_single_voter_commits_on_its_own():
    net = Net(1)
    net.elect(1)
    net.nodes[1].propose(b"x")
    net.stabilize()
    assert net.applied[1] == [b"x"]


def test_a_vote_leaves_only_in_a_ready_that_persists_it():
    net = Net(3)
    net.stabilize()  # persist the bootstrap snapshot
    net.nodes[1].campaign()
    rd = net.nodes[1].ready()  # pre-vote: no term change, nothing to sync
    assert not rd.must_sync and all(m.type == MessageType.PRE_VOTE for m in rd.messages)
    net.nodes[1].advance(rd)
    for m in rd.messages:
        net.nodes[m.to].step(m)
    grants = [net.nodes[i].ready() for i in (2, 3)]
    for i, g in zip((2, 3), grants):
        net.nodes[i].advance(g)
        for m in g.messages:
            net.nodes[1].step(m)
    rd = net.nodes[1].ready()  # now a candidate: the vote for itself and the term must be synced
    assert rd.must_sync and rd.hard_state.term == 1 and rd.hard_state.vote == 1
    net.nodes[1].advance(rd)
    for m in rd.messages:
        net.nodes[m.to].step(m)
    voter = net.nodes[2].ready()
    assert voter.must_sync and voter.hard_state.vote == 1
    assert [m.type for m in voter.messages] == [MessageType.VOTE_RESP]


def test_restart_keeps_term_and_vote():
    net = Net(3)
    net.elect(1)
    net.restart(2)
    assert net.nodes[2].term == 1 and net.nodes[2].raft.vote == 1


def test_proposals_on_a_follower_are_dropped():
    net = Net(3)
    net.elect(1)
    with pytest.raises(ProposalDropped, match="leader is 1"):
        net.nodes[2].propose(b"x")


def test_replication_factor_waits_for_every_replica_asked_for():
    net = Net(3, replication_factor=2)
    net.elect(1)
    net.down.add(3)
    net.nodes[1].propose(b"needs-three")
    net.stabilize()
    assert net.applied[1] == []  # 2 of 3 would be a quorum, but replication_factor=2 asks for 3
    net.down.clear()
    for _unused in range(5):
        net.nodes[1].tick()
    net.stabilize()
    assert net.applied[1] == [b"needs-three"]


def test_quorum_commit_proceeds_without_one_voter():
    net = Net(3)
    net.elect(1)
    net.down.add(3)
    net.nodes[1].propose(b"two-of-three")
    net.stabilize()
    assert net.applied[1] == [b"two-of-three"]


def test_observer_host_never_campaigns_nor_votes():
    # Even wrongly configured as a voter, a node with observer=True never stands or votes.
    node = RawNode(CoreConfig(node_id=4, observer=True), random.Random(4),
                   bootstrap=ConfState(frozenset({1, 4})))
    for _unused in range(100):
        node.tick()
    assert node.status().role == Role.FOLLOWER
    node.step(Message(MessageType.VOTE, 1, 4, term=5, index=9, log_term=4))
    resp = [m for m in node.ready().messages if m.type == MessageType.VOTE_RESP]
    assert resp and resp[0].reject


def test_vote_context_veto_and_log_rule_both_apply():
    node = RawNode(CoreConfig(node_id=2), random.Random(2), bootstrap=ConfState(frozenset({1, 2, 3})))
    node.set_vote_context(500)
    node.step(Message(MessageType.VOTE, 1, 2, term=1, index=1, log_term=1, context=499))
    node.step(Message(MessageType.VOTE, 3, 2, term=1, index=1, log_term=1, context=500))
    rd = node.ready()
    answers = {m.to: m.reject for m in rd.messages}
    assert answers == {1: True, 3: False}


def test_conf_change_is_refused_until_the_leaders_first_entry_commits():
    net = Net(3)
    net.nodes[1].campaign()
    # deliver only the election, not the no-op's acknowledgements
    for _unused in range(4):
        for i, node in net.nodes.items():
            if node.has_ready():
                rd = node.ready()
                node.advance(rd)
                for m in rd.messages:
                    if m.type != MessageType.APP:
                        net.nodes[m.to].step(m)
    assert net.nodes[1].status().role == Role.LEADER
    with pytest.raises(ProposalDropped, match="membership change"):
        net.nodes[1].propose_conf_change(ConfChange(ConfChangeType.ADD_VOTER, 4))


def test_leader_removing_itself_leads_until_the_removal_commits():
    net = Net(3)
    net.elect(1)
    net.nodes[1].propose_conf_change(ConfChange(ConfChangeType.REMOVE, 1))
    assert net.nodes[1].status().role == Role.LEADER  # still needed to commit its own removal
    net.stabilize()
    assert net.nodes[1].status().role == Role.FOLLOWER
    assert net.nodes[2].conf.voters == frozenset({2, 3})


def test_log_stays_bounded_with_a_snapshot_source():
    cfg = dict(snapshot_threshold=5)
    net = Net(3, **cfg)
    for i in (1, 2, 3):
        net.nodes[i] = RawNode(CoreConfig(node_id=i, **cfg), random.Random(i),
                               bootstrap=ConfState(frozenset({1, 2, 3})), snapshot_source=lambda index: b"s")
    net.elect(1)
    for k in range(40):
        net.nodes[1].propose(b"%d" % k)
        net.stabilize()
    for node in net.nodes.values():
        assert len(node.raft.log.entries) <= 5
        assert node.raft.log.snapshot.index >= 37


def test_local_message_types_are_refused_from_the_network():
    node = RawNode(CoreConfig(node_id=1), random.Random(1))
    with pytest.raises(ValueError):
        node.step(Message(MessageType.HUP, 2, 1))


def test_same_inputs_same_outputs():
    def run() -> list:
        net = Net(3)
        net.elect(2)
        for _unused in range(30):
            for node in net.nodes.values():
                node.tick()
            net.stabilize()
        return [(i, n.term, n.status()) for i, n in net.nodes.items()]
    assert run() == run()


def _observed_cluster(**options) -> Net:
    """Net of voters 1-3 and observer 4 (the pooler host), node 1 elected."""
    net = Net(3, **options)
    conf = ConfState(frozenset({1, 2, 3}), frozenset({4}))
    net.storage[4] = MemoryStorage()
    net.applied[4] = []
    for i in (1, 2, 3):
        net.nodes[i] = RawNode(CoreConfig(node_id=i, **options), random.Random(i), bootstrap=conf)
    net.nodes[4] = RawNode(CoreConfig(node_id=4, observer=True, **options), random.Random(4), bootstrap=conf)
    net.elect(1)
    return net


def _heartbeats_per_member(net: Net, ticks: int) -> Dict[int, int]:
    """Tick the leader `ticks` times, delivering everything; heartbeats it sent to each member."""
    sent: Dict[int, int] = {2: 0, 3: 0, 4: 0}
    for _unused in range(ticks):
        net.nodes[1].tick()
        rd = net.nodes[1].ready()
        for m in rd.messages:
            if m.type == MessageType.HEARTBEAT:
                sent[m.to] += 1
        net.nodes[1].advance(rd)
        for m in rd.messages:
            net.nodes[m.to].step(m)
        net.stabilize()
    return sent


def test_an_observer_gets_every_heartbeat_as_the_voters_do():
    # A pooler host's observer tells a silent leader within two beats (pooler/hold.py).
    net = _observed_cluster(election_ticks=16, heartbeat_ticks=2, lease_ticks=9)
    sent = _heartbeats_per_member(net, 160)  # ten election timeouts
    assert sent[2] == sent[3] == sent[4] == 80
    # Still following the leader, and still in the membership: the leader never lost it.
    assert net.nodes[4].status().leader == 1 and net.nodes[4].status().role == Role.FOLLOWER
    assert 4 in net.nodes[1].conf.observers


def test_autoremove_never_takes_an_observer_for_absent():
    net = _observed_cluster(election_ticks=80, heartbeat_ticks=2, lease_ticks=48,
                            autoremove_enabled=True, autoremove_minimum=1, remove_ticks=24)
    sent = _heartbeats_per_member(net, 120)
    assert sent[4] == 60
    assert net.nodes[1].conf.observers == frozenset({4})
    assert net.nodes[1].conf.voters == frozenset({1, 2, 3})


def test_status_tells_what_a_runtime_reports_without_reaching_into_the_core():
    net = Net(3)
    net.elect(1)
    index = net.nodes[1].propose(b"x")
    net.stabilize()
    status = net.nodes[1].status()
    assert (status.leader, status.role, status.term) == (1, Role.LEADER, net.nodes[1].term)
    assert status.commit == index and status.conf == ConfState(frozenset({1, 2, 3}))
    follower = net.nodes[2].status()
    assert (follower.leader, follower.role, follower.commit) == (1, Role.FOLLOWER, index)
