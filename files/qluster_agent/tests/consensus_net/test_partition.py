"""A partitioned minority (1 of 3, 2 of 5), with or without the leader: the majority keeps or
gets a leader, the minority never elects one of its own, and after the heal all agree on the
majority's leader (pre-vote: the returning minority disrupts nothing)."""

from __future__ import annotations

import pytest

from .cluster import ConsensusCluster

LOST_PRE_VOTES = 2  # rounds each minority node must have tried and lost before we judge it


@pytest.mark.parametrize("leader_side", ["minority", "majority"])
def test_a_partitioned_minority_never_elects_and_all_agree_after_the_heal(cluster: ConsensusCluster,
                                                                          leader_side: str) -> None:
    old_leader, old_term = cluster.wait_agreed(cluster.hosts)
    followers = [node for node in cluster.hosts if node != old_leader]
    size = len(cluster.hosts)
    # With the leader in the minority, it must also step down and the majority must elect.
    minority = [old_leader, *followers[:size // 2 - 1]] if leader_side == "minority" else followers[:size // 2]
    majority = [node for node in cluster.hosts if node not in minority]
    tries_before = {node: cluster.status(node)["became"]["pre-candidate"] for node in minority}
    cluster.lab.split([cluster.hosts[node] for node in minority], [cluster.hosts[node] for node in majority])
    try:
        leader, term = cluster.wait_agreed(majority, timeout=10)
        if leader_side == "minority":
            assert term > old_term
        else:
            assert (leader, term) == (old_leader, old_term), "the majority did not keep its leader"

        def tried_enough() -> bool:
            statuses = cluster.statuses(minority)
            return all(status and status["became"]["pre-candidate"] >= tries_before[node] + LOST_PRE_VOTES
                       for node, status in statuses.items())

        # Not a fixed sleep: the window ends once every minority node has campaigned and lost.
        cluster.wait_for(tried_enough, 15, f"minority {minority} to lose {LOST_PRE_VOTES} pre-votes each")
        for node, status in cluster.statuses(minority).items():
            assert status["role"] != "leader", f"node {node} of the minority leads"
            assert max(status["led_terms"], default=0) <= old_term, f"node {node} led a term after the split"
            assert status["term"] == old_term, f"pre-vote let node {node} raise its term"
        assert cluster.agreed(majority) == (leader, term), "the majority lost its leader"
    finally:
        cluster.lab.heal()
    assert cluster.wait_agreed(cluster.hosts, timeout=10) == (leader, term), "the heal disrupted the leader"
