"""POST /config on a node: the node's own tick bounds node-timeout, and a refusal changes nothing."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from qluster_agent.agent.backend import AgentBackend
from qluster_agent.api.backend import ApiError
from qluster_agent.cluster.state import ClusterState
from qluster_agent.config.runtime import default_cluster_settings


def backend_with_tick(tick_interval: float, committed: list) -> AgentBackend:
    state = ClusterState(default_cluster_settings())
    agent = SimpleNamespace(cluster_state=lambda: state, config=SimpleNamespace(tick_interval=tick_interval),
                            snapshot=lambda: None, api_token=None, forward_key=b"k" * 16)
    backend = AgentBackend(agent)
    backend._commit = committed.append  # what would be proposed to the cluster
    return backend


@pytest.mark.parametrize("tick, body", [
    (0.05, {"node-timeout": "150ms", "heartbeat-interval": "50ms"}),  # 3 ticks of 50 ms: under 4
    (0.25, {"node-timeout": "800ms"}),
])
def test_a_node_timeout_shorter_than_four_ticks_is_refused_and_nothing_proposed(tick, body):
    committed: list = []
    with pytest.raises(ApiError) as refused:
        backend_with_tick(tick, committed).update_config(body)
    assert refused.value.status == 400
    assert any("node-timeout" in line and "ticks" in line for line in refused.value.details)
    assert committed == []
