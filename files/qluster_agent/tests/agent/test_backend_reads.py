"""The backend's reads before the HA loop's first cycle: a starting node, not an error."""
from __future__ import annotations

from types import SimpleNamespace

from qluster_agent.agent.backend import AgentBackend


def starting(observer: bool) -> AgentBackend:
    config = SimpleNamespace(cluster_id="c1", hello_retry_interval=1.0)
    return AgentBackend(SimpleNamespace(snapshot=lambda: None, observer=observer, my_id=3, config=config))


def test_health_of_a_starting_node_names_it_and_says_nothing_is_up():
    health = starting(observer=True).health()
    assert (health.observer, health.node_id) == (True, 3)
    assert not (health.agent_alive or health.pg_running or health.is_leader or health.in_recovery
                or health.writable or health.streaming)
    assert health.lag_bytes is None


def test_the_map_of_a_starting_node_is_empty():
    expected = {"cluster_id": "c1", "term": 0, "leader": None, "paused": False, "members": []}
    assert starting(observer=False).cluster_map() == expected
