"""Beacons: what a node announces in its hello datagrams, read back by the others."""

from __future__ import annotations

import json

from qluster_agent.agent.beacon import Beacon
from qluster_agent.agent.views import AgentSnapshot, cluster_map
from qluster_agent.cluster.state import ClusterState
from qluster_agent.config.runtime import default_cluster_settings
from qluster_agent.pg.status import DbRole
from qluster_agent.raft.runtime import RuntimeStatus
from qluster_agent.raft.types import Role


def test_a_beacon_reads_back_as_it_was_sent() -> None:
    sent = Beacon("qluster-01", "10.0.0.1", 8080, 5432, False, db_role=DbRole.PRIMARY, vote_context=7, switchover_to=3)
    assert Beacon.decode(sent.encode()) == sent


def test_a_newer_agents_beacon_still_reads_without_the_keys_this_version_does_not_know() -> None:
    raw = json.loads(Beacon("qluster-02", "10.0.0.2", 8080, 5432, False, db_role=DbRole.REPLICA).encode())
    raw["something_new"] = {"x": 1}
    read = Beacon.decode(json.dumps(raw).encode())
    assert read is not None and read.name == "qluster-02" and read.db_role is DbRole.REPLICA


def test_anything_else_is_no_beacon() -> None:
    assert Beacon.decode(b"not json") is None
    assert Beacon.decode(b"[1, 2]") is None
    assert Beacon.decode(json.dumps({"name": "n"}).encode()) is None  # required fields missing


def test_the_role_travels_as_its_name_and_an_unknown_one_reads_as_unknown() -> None:
    raw = json.loads(Beacon("qluster-03", "10.0.0.3", 8080, None, True, db_role=DbRole.NONE).encode())
    assert raw["db_role"] == "none"
    raw["db_role"] = "archiving"  # a newer agent's role
    assert Beacon.decode(json.dumps(raw).encode()).db_role is DbRole.UNKNOWN
    del raw["db_role"]
    assert Beacon.decode(json.dumps(raw).encode()).db_role is DbRole.UNKNOWN


def test_an_older_agents_beacon_without_pending_restart_reads_as_unknown() -> None:
    sent = Beacon("qluster-04", "10.0.0.4", 8080, 5432, False, db_role=DbRole.REPLICA, pending_restart=True)
    assert Beacon.decode(sent.encode()) == sent
    raw = json.loads(sent.encode())
    del raw["pending_restart"]
    read = Beacon.decode(json.dumps(raw).encode())
    assert read is not None and read.pending_restart is None and read.db_role is DbRole.REPLICA


def test_the_map_row_says_what_the_members_beacon_says_of_a_pending_restart() -> None:
    raft = RuntimeStatus(1, Role.LEADER, 1, 4, frozenset({1, 2, 3}), frozenset(), 10, 10)
    beacons = {1: Beacon("n1", "10.0.0.1", 8080, 5432, False, db_role=DbRole.PRIMARY, pending_restart=False),
               2: Beacon("n2", "10.0.0.2", 8080, 5432, False, db_role=DbRole.REPLICA, pending_restart=True)}
    snap = AgentSnapshot(my_id=1, raft=raft, state=ClusterState(default_cluster_settings()), beacons=beacons,
                         last_seen={1: 0.0, 2: 0.1}, pg=None, add_node_marker=False, switchover_target=None,
                         operation=None, operation_started_at=None)
    rows = {row["id"]: row for row in cluster_map(snap, "c1", 3.0)["members"]}
    assert [rows[node_id]["pending_restart"] for node_id in (1, 2, 3)] == [False, True, None]  # 3: no beacon
