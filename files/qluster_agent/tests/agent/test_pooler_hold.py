"""The pooler host's hold as its observer reads it and announces it."""

from __future__ import annotations

import pytest

from qluster_agent.agent.beacon import Beacon
from qluster_agent.agent.pooler_hold import read_hold_file
from qluster_agent.agent.views import AgentSnapshot, cluster_map
from qluster_agent.cluster.state import ClusterState
from qluster_agent.config.runtime import default_cluster_settings
from qluster_agent.pg.status import DbRole
from qluster_agent.raft.runtime import RuntimeStatus
from qluster_agent.raft.types import Role


@pytest.mark.parametrize("content, held_for", [
    pytest.param(b'{"held_for": 2}', 2, id="held for member 2"),
    pytest.param(b'{"held_for": 0}', None, id="no member 0"),
    pytest.param(b'{"held_for": true}', None, id="a boolean is no member"),
    pytest.param(b'{"held_for": "2"}', None, id="a string is no member"),
    pytest.param(b'{}', None, id="nothing held"),
    pytest.param(b'[2]', None, id="not an object"),
    pytest.param(b'{"held_for": 2', None, id="cut short"),
    pytest.param(b'{"held_for": 2, "pad": "' + b"x" * 300 + b'"}', None, id="longer than any hold"),
])
def test_the_hold_file(tmp_path, content, held_for) -> None:
    path = tmp_path / "hold"
    path.write_bytes(content)
    assert read_hold_file(str(path)) == held_for


def test_no_hold_file_holds_nothing(tmp_path) -> None:
    assert read_hold_file(str(tmp_path / "absent")) is None


def test_the_hold_travels_in_the_beacon_and_an_older_beacon_holds_nothing() -> None:
    beacon = Beacon(name="qcp", address="10.0.0.9", api_port=8080, db_port=None, observer=True, db_role=DbRole.NONE,
                    holds_pooler=True, pooler_held_for=2)
    assert Beacon.decode(beacon.encode()) == beacon
    older = b'{"name":"qcp","address":"10.0.0.9","api_port":8080,"db_port":null,"observer":true,"db_role":"none"}'
    decoded = Beacon.decode(older)
    assert decoded is not None and not decoded.holds_pooler and decoded.pooler_held_for is None


@pytest.mark.parametrize("leader, switchover_to, shown", [
    pytest.param(1, 2, 2, id="the leader hands over to 2"),
    pytest.param(1, None, None, id="no switchover"),
    pytest.param(0, 2, None, id="nobody leads: nothing under way"),
])
def test_the_map_names_the_target_of_the_leaders_switchover(leader, switchover_to, shown) -> None:
    raft = RuntimeStatus(3, Role.LEADER if leader == 3 else Role.FOLLOWER, leader, 4, frozenset({1, 2, 3}),
                         frozenset(), 10, 10)
    leader_beacon = Beacon("n1", "10.0.0.1", 8080, 5432, False, db_role=DbRole.PRIMARY, switchover_to=switchover_to)
    snap = AgentSnapshot(my_id=3, raft=raft, state=ClusterState(default_cluster_settings()), beacons={1: leader_beacon},
                         last_seen={}, pg=None, add_node_marker=False, switchover_target=None, operation=None,
                         operation_started_at=None)
    assert cluster_map(snap, "c1", 3.0)["switchover_to"] == shown
