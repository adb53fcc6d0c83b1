"""Beacons: what a node announces in its hello datagrams, read back by the others."""

from __future__ import annotations

import json

from qluster_agent.agent.beacon import Beacon
from qluster_agent.pg.status import DbRole


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
