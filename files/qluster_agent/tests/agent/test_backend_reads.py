"""The backend's reads before the HA loop's first cycle: a starting node, not an error."""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from qluster_agent.agent.backend import AgentBackend
from qluster_agent.agent.views import AgentSnapshot
from qluster_agent.cluster.state import ClusterState
from qluster_agent.config.runtime import default_cluster_settings
from qluster_agent.raft.runtime import RuntimeStatus
from qluster_agent.raft.types import Role


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


def test_the_map_says_how_long_ago_each_member_was_heard_as_of_the_answer_and_the_node_timeout_now():
    raft = RuntimeStatus(2, Role.FOLLOWER, 1, 4, frozenset({1, 2}), frozenset({3}), 10, 10)
    settings = replace(default_cluster_settings(), node_timeout=1.5)
    # The snapshot is as old as the HA cycle that took it: the leader was heard 0.9 s before it.
    snap = AgentSnapshot(my_id=3, raft=raft, state=ClusterState(settings), beacons={},
                         last_seen={3: 0.0, 1: 0.9, 2: 0.02}, pg=None, add_node_marker=False, switchover_target=None,
                         operation=None, operation_started_at=None)
    heard = {1: 0.01, 2: 0.3}
    config = SimpleNamespace(cluster_id="c1", hello_retry_interval=1.0)
    backend = AgentBackend(SimpleNamespace(snapshot=lambda: snap, observer=True, my_id=3, config=config,
                                           heard_ago=lambda: heard))
    cmap = backend.cluster_map()
    rows = {row["id"]: row for row in cmap["members"]}
    assert (rows[1]["last_seen_s"], rows[2]["last_seen_s"], rows[3]["last_seen_s"]) == (0.01, 0.3, 0.0)
    assert cmap["node_timeout_s"] == 1.5
    heard[1] = 0.7  # the leader falls silent: the next answer says so, before the next HA cycle
    assert {row["id"]: row for row in backend.cluster_map()["members"]}[1]["last_seen_s"] == 0.7
