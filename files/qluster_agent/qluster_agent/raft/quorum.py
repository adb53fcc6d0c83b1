"""Quorum arithmetic: small pure functions over sets of voter ids."""
from __future__ import annotations

import enum
from typing import AbstractSet, Mapping


class VoteResult(enum.Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def majority(voters: AbstractSet[int]) -> int:
    """n/2+1 voters; an empty configuration can never reach quorum."""
    return len(voters) // 2 + 1


def required_acks(voters: AbstractSet[int], replication_factor: int) -> int:
    """How many voters (the leader included) must hold an entry for it to commit.

    replication_factor = k > 0 asks for the leader plus k other voters, capped at all voters,
    but never fewer than a majority: an election only guarantees that the new leader holds what
    a majority holds.
    """
    need = majority(voters)
    if replication_factor > 0:
        need = max(need, min(replication_factor + 1, len(voters)))
    return need


def committed_index(voters: AbstractSet[int], match: Mapping[int, int], need: int) -> int:
    """The highest index held by at least `need` voters (voters missing from `match` hold 0)."""
    if not voters or need <= 0 or need > len(voters):
        return 0
    acked = sorted((match.get(v, 0) for v in voters), reverse=True)
    return acked[need - 1]


def vote_result(voters: AbstractSet[int], votes: Mapping[int, bool]) -> VoteResult:
    """WON once a majority granted, LOST once a majority can no longer be reached."""
    granted = sum(1 for v in voters if votes.get(v) is True)
    rejected = sum(1 for v in voters if votes.get(v) is False)
    need = majority(voters)
    if granted >= need:
        return VoteResult.WON
    if len(voters) - rejected < need:
        return VoteResult.LOST
    return VoteResult.PENDING


def has_quorum(voters: AbstractSet[int], active: AbstractSet[int]) -> bool:
    return bool(voters) and len(voters & active) >= majority(voters)
