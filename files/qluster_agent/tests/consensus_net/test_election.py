"""A leader is elected and known by all; SIGKILL of its process yields a new one known by all
survivors (3 and 5 node processes over real multicast)."""

from __future__ import annotations

from .cluster import ConsensusCluster


def test_one_leader_is_elected_and_every_node_knows_it(cluster: ConsensusCluster) -> None:
    leader, term = cluster.wait_agreed(cluster.hosts)
    statuses = cluster.statuses(cluster.hosts)
    assert [node for node, status in statuses.items() if status["role"] == "leader"] == [leader]
    assert {status["term"] for status in statuses.values()} == {term}
    assert all(status["voters"] == sorted(cluster.hosts) for status in statuses.values())


def test_killing_the_leader_yields_a_new_leader_known_by_every_survivor(cluster: ConsensusCluster) -> None:
    old_leader, old_term = cluster.wait_agreed(cluster.hosts)
    cluster.kill(old_leader)
    survivors = cluster.running()
    leader, term = cluster.wait_agreed(survivors, timeout=10, unless=lambda view: view[0] == old_leader)
    assert leader in survivors
    assert term > old_term
