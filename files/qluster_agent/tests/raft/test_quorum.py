"""Table tests of the quorum and membership functions."""
from __future__ import annotations

import pytest

from qluster_agent.raft.membership import apply_change, check_change
from qluster_agent.raft.quorum import VoteResult, committed_index, has_quorum, majority, required_acks, vote_result
from qluster_agent.raft.types import ConfChange, ConfChangeType, ConfState

F = frozenset


@pytest.mark.parametrize("voters, expected", [
    (F(), 1), (F({1}), 1), (F({1, 2}), 2), (F({1, 2, 3}), 2), (F({1, 2, 3, 4}), 3), (F(range(1, 6)), 3),
])
def test_majority(voters, expected):
    assert majority(voters) == expected


@pytest.mark.parametrize("n, factor, expected", [
    (3, 0, 2),   # quorum
    (3, 1, 2),   # leader + 1 replica is already a majority
    (3, 2, 3),   # leader + 2 replicas: every voter
    (3, 5, 3),   # capped at the number of voters
    (5, 1, 3),   # never below a majority
    (5, 3, 4),
    (1, 2, 1),
])
def test_required_acks(n, factor, expected):
    assert required_acks(F(range(1, n + 1)), factor) == expected


@pytest.mark.parametrize("voters, match, need, expected", [
    (F({1, 2, 3}), {1: 5, 2: 4, 3: 1}, 2, 4),
    (F({1, 2, 3}), {1: 5, 2: 4, 3: 1}, 3, 1),
    (F({1, 2, 3}), {1: 5}, 2, 0),                     # missing voters hold nothing
    (F({1, 2, 3}), {1: 5, 2: 5, 9: 9}, 2, 5),          # non-voters (9) do not count
    (F({1, 2, 3, 4}), {1: 7, 2: 6, 3: 6, 4: 2}, 3, 6),
    (F(), {1: 5}, 1, 0),
])
def test_committed_index(voters, match, need, expected):
    assert committed_index(voters, match, need) == expected


@pytest.mark.parametrize("voters, votes, expected", [
    (F({1}), {1: True}, VoteResult.WON),
    (F({1, 2, 3}), {1: True}, VoteResult.PENDING),
    (F({1, 2, 3}), {1: True, 2: True}, VoteResult.WON),
    (F({1, 2, 3}), {1: True, 2: False}, VoteResult.PENDING),
    (F({1, 2, 3}), {1: True, 2: False, 3: False}, VoteResult.LOST),
    (F({1, 2, 3, 4}), {1: True, 2: True}, VoteResult.PENDING),
    (F({1, 2, 3, 4}), {1: True, 2: False, 3: False}, VoteResult.LOST),
    (F({1, 2, 3}), {1: True, 9: True}, VoteResult.PENDING),   # a non-voter's grant does not count
    (F({2, 3}), {1: True, 2: True}, VoteResult.PENDING),       # nor the candidate's if it is not a voter
])
def test_vote_result(voters, votes, expected):
    assert vote_result(voters, votes) == expected


@pytest.mark.parametrize("voters, active, expected", [
    (F({1, 2, 3}), F({1}), False), (F({1, 2, 3}), F({1, 3}), True), (F({1, 2, 3, 4}), F({1, 3}), False),
    (F(), F({1}), False),
])
def test_has_quorum(voters, active, expected):
    assert has_quorum(voters, active) is expected


V, O, R = ConfChangeType.ADD_VOTER, ConfChangeType.ADD_OBSERVER, ConfChangeType.REMOVE


@pytest.mark.parametrize("conf, change, problem, after", [
    (ConfState(F({1, 2})), ConfChange(V, 3), None, ConfState(F({1, 2, 3}))),
    (ConfState(F({1, 2})), ConfChange(V, 2), "already a voter", ConfState(F({1, 2}))),
    (ConfState(F({1, 2})), ConfChange(O, 4), None, ConfState(F({1, 2}), F({4}))),
    (ConfState(F({1, 2}), F({4})), ConfChange(O, 4), "already an observer", ConfState(F({1, 2}), F({4}))),
    (ConfState(F({1, 2}), F({4})), ConfChange(V, 4), None, ConfState(F({1, 2, 4}))),  # promotion
    (ConfState(F({1, 2})), ConfChange(O, 2), "demoting", ConfState(F({1, 2}))),
    (ConfState(F({1, 2}), F({4})), ConfChange(R, 4), None, ConfState(F({1, 2}))),
    (ConfState(F({1, 2})), ConfChange(R, 2), None, ConfState(F({1}))),
    (ConfState(F({1})), ConfChange(R, 1), "last voter", ConfState(F({1}))),
    (ConfState(F({1})), ConfChange(R, 7), "not a member", ConfState(F({1}))),
    (ConfState(F({1})), ConfChange(V, 0), "invalid node id", ConfState(F({1}))),
])
def test_membership_change(conf, change, problem, after):
    found = check_change(conf, change)
    assert (found is None) if problem is None else (problem in found)
    assert apply_change(conf, change) == after
    assert apply_change(after, change) == after  # idempotent: a restart may re-apply it
