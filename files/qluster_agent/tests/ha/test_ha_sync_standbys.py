"""k and the names for synchronous_standby_names as membership changes."""

from __future__ import annotations

import pytest

from qluster_agent.ha.sync_standbys import desired_sync_standbys
from qluster_agent.ha.view import ClusterView, Member, MemberRole


def view(voters: int, observers: int = 0, quorum: bool = True, factor: int = 0) -> ClusterView:
    members = tuple(Member(i, MemberRole.VOTER, f"10.77.0.{i}", 5432) for i in range(1, voters + 1))
    members += tuple(Member(100 + i, MemberRole.OBSERVER, f"10.77.1.{i}") for i in range(observers))
    return ClusterView(
        my_id=1,
        is_leader=True,
        has_quorum=True,
        leader_id=1,
        members=members,
        quorum_replication=quorum,
        replication_factor=factor,
    )


@pytest.mark.parametrize(
    "voters, observers, quorum, factor, expected",
    [
        (1, 0, True, 0, ""),  # alone: nobody to wait for
        (2, 0, True, 0, 'ANY 1 ("qluster_2")'),  # majority of 2 is 2
        (3, 1, True, 0, 'ANY 1 ("qluster_2", "qluster_3")'),  # the observer is never listed
        (4, 0, True, 0, 'ANY 2 ("qluster_2", "qluster_3", "qluster_4")'),
        (5, 0, True, 0, 'ANY 2 ("qluster_2", "qluster_3", "qluster_4", "qluster_5")'),
        (5, 0, True, 1, 'ANY 1 ("qluster_2", "qluster_3", "qluster_4", "qluster_5")'),  # replication-factor
        (3, 0, True, 5, 'ANY 2 ("qluster_2", "qluster_3")'),  # capped at the standbys there are
        (3, 0, False, 0, ""),  # quorum replication off: asynchronous
    ],
)
def test_commit_needs_a_majority_of_voters_including_the_leader(
    voters: int, observers: int, quorum: bool, factor: int, expected: str
) -> None:
    assert desired_sync_standbys(view(voters, observers, quorum, factor)).render() == expected


def test_k_plus_leader_is_a_majority() -> None:
    for voters in range(1, 8):
        k = desired_sync_standbys(view(voters)).k
        assert k + 1 == voters // 2 + 1
