from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.netns import NetLab, unavailable_reason

from .cluster import ConsensusCluster


@pytest.fixture(scope="package", params=[3, 5], ids=["3-nodes", "5-nodes"])
def running_cluster(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsensusCluster]:
    """One lab and one cluster per size, shared by every test here (starting node
    processes is the slow part); each size gets its own lab, removed afterwards."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"real-network test skipped: {reason}")
    size = request.param
    with NetLab() as lab, ConsensusCluster(lab, tmp_path_factory.mktemp(f"consensus{size}"), size) as cluster:
        cluster.start_all()
        yield cluster


@pytest.fixture
def cluster(running_cluster: ConsensusCluster) -> ConsensusCluster:
    """Every node running (one a test killed is restarted with its data) and agreeing on a leader."""
    for node_id in running_cluster.hosts:
        if not running_cluster.is_running(node_id):
            running_cluster.start(node_id)
    running_cluster.wait_agreed(running_cluster.hosts)
    return running_cluster
