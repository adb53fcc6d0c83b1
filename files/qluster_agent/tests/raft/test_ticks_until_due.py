"""RawNode.ticks_until_due: the ticks before the due one only count, and the due one may act.

The runtime sleeps through the ticks before the due one and counts them when it wakes, so a
due tick that comes too late would delay a heartbeat, a step-down or an election. Each case
checks both sides on a copy of the node: due - 1 ticks change nothing but counters, the due
tick acts (a role change, a message, an aborted transfer, a proposal, the new timing).
"""
from __future__ import annotations

import copy
import random

from qluster_agent.raft import ConfState, CoreConfig, Message, MessageType, RawNode, Role
from .sim import quiet_view

from .test_rawnode import Net

VOTERS = ConfState(frozenset({1, 2, 3}))
TIMING = dict(election_ticks=16, heartbeat_ticks=2, lease_ticks=12, prevote_ticks=16, vote_ticks=16,
              replication_retry_ticks=4, transfer_ticks=20)


def timing(base: dict | None = None, **changes) -> dict:
    """`base` (TIMING if none) with some values changed (a copy)."""
    merged = dict(TIMING if base is None else base)
    merged.update(changes)
    return merged


def acts_within(node: RawNode, ticks: int) -> bool:
    """Whether any of the next `ticks` ticks does more than count (tried on a copy)."""
    trial = copy.deepcopy(node)
    before = quiet_view(trial)
    for _unused in range(ticks):
        trial.tick()
    return quiet_view(trial) != before


def assert_due(node: RawNode, expected: int) -> None:
    assert node.ticks_until_due() == expected
    assert not acts_within(node, expected - 1)
    assert acts_within(node, expected)


def follower(node_id: int = 1) -> RawNode:
    return RawNode(CoreConfig(node_id=node_id, **TIMING), random.Random(node_id), bootstrap=VOTERS)


def test_a_follower_is_due_at_its_election_timeout_and_a_heartbeat_puts_it_back():
    node = follower()
    node.step(Message(MessageType.HEARTBEAT, 2, 1, term=1))  # the leader's term: no new timeout below
    timeout = node.raft.timeout
    assert 16 <= timeout <= 31
    assert_due(node, timeout)
    for _unused in range(5):
        node.tick()
    assert_due(node, timeout - 5)
    node.step(Message(MessageType.HEARTBEAT, 2, 1, term=1))
    assert_due(node, timeout)


def test_a_pre_candidate_and_a_candidate_are_due_when_their_round_times_out():
    node = follower()
    node.campaign()
    assert node.status().role == Role.PRE_CANDIDATE
    assert_due(node, node.raft.timeout)
    node.step(Message(MessageType.PRE_VOTE_RESP, 2, 1, term=node.term + 1))
    assert node.status().role == Role.CANDIDATE
    node.tick()
    assert_due(node, node.raft.timeout - 1)


def test_an_idle_leader_is_due_at_its_next_heartbeat():
    net = Net(3, **TIMING)
    net.elect(1)
    leader = net.nodes[1]
    assert_due(leader, 2)
    leader.tick()
    assert_due(leader, 1)


def test_a_leader_whose_voters_fell_silent_is_due_when_its_lease_runs_out():
    # A heartbeat interval longer than what is left of the lease, so the lease sets the due tick.
    net = Net(3, **timing(heartbeat_ticks=10))
    net.elect(1)
    leader = net.nodes[1]
    net.down |= {2, 3}
    for _unused in range(10):
        leader.tick()  # the heartbeat at the 10th goes unanswered
    net.stabilize()
    assert_due(leader, 2)  # heard last at 0: active while now - 0 < 12, so the 12th tick steps down
    trial = copy.deepcopy(leader)
    trial.tick()
    trial.tick()
    assert trial.status().role == Role.FOLLOWER


def test_the_lease_runs_out_with_the_quorum_not_with_the_first_silent_voter():
    net = Net(3, **timing(heartbeat_ticks=10))
    net.elect(1)
    leader = net.nodes[1]
    net.down.add(3)
    for _unused in range(5):
        leader.tick()
    leader.raft.progress[2].last_heard = leader.raft.now  # node 2 answered at 5: quorum until 5 + 12
    assert_due(leader, 5)  # the heartbeat at 10, not node 3's silence at 12
    net.down.add(2)
    for _unused in range(5):
        leader.tick()
    net.stabilize()  # the heartbeat at 10 goes unanswered
    assert_due(leader, 7)  # node 2's answer at 5 keeps the quorum until the 17th tick


def test_a_leader_is_due_when_a_lagging_follower_must_be_retried():
    net = Net(3, **timing(heartbeat_ticks=10))
    net.elect(1)
    leader = net.nodes[1]
    net.down.add(3)
    leader.propose(b"x")
    net.stabilize()  # node 3 never acknowledges: retried replication_retry_ticks after the send
    assert leader.raft.progress[3].match < leader.raft.log.last_index()
    assert_due(leader, 4)


def test_a_leader_is_due_when_its_transfer_times_out():
    net = Net(3, **timing(heartbeat_ticks=10, lease_ticks=12, election_ticks=30, transfer_ticks=3))
    net.elect(1)
    leader = net.nodes[1]
    net.down.add(2)
    leader.raft.progress[2].match = 0  # not caught up: the transfer waits for it
    leader.transfer_leader(2)
    net.stabilize()
    assert leader.raft.transferee == 2
    assert_due(leader, 3)


def test_a_leader_with_autoremove_is_due_when_a_silent_member_may_go():
    options = timing(heartbeat_ticks=10, lease_ticks=12, election_ticks=30, remove_ticks=6,
                     autoremove_enabled=True, autoremove_minimum=1)
    net = Net(3, **options)
    net.elect(1)
    leader = net.nodes[1]
    net.down.add(3)
    assert_due(leader, 6)  # node 3, heard at 0, is removed at the 6th tick
    kept = Net(3, **timing(options, autoremove_minimum=3))
    kept.elect(1)
    kept.down.add(3)
    assert_due(kept.nodes[1], 10)  # three voters are the minimum: only the heartbeat is due


def test_a_timing_change_in_progress_is_due_when_it_ends():
    node = follower()
    node.set_config(CoreConfig(node_id=1, **timing(election_ticks=20, lease_ticks=15)))
    assert node.raft.target_cfg is not None and node.raft.change_left == 40
    for _unused in range(30):
        node.step(Message(MessageType.HEARTBEAT, 2, 1, term=1))  # keep the election timeout away
        node.tick()
    node.step(Message(MessageType.HEARTBEAT, 2, 1, term=1))
    assert_due(node, 10)  # before the election timeout (at least 20): the change ends and redraws it
