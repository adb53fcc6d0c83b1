"""qhb_replication_facts's shaping of database rows and the agent's answers."""

from __future__ import annotations

import datetime
import decimal

from ansible_collections.qhb.qluster.plugins.module_utils import qhb_replication as r


def test_lsn_and_timeline():
    assert r.lsn_to_int("0/3000148") == 0x3000148
    assert r.lsn_to_int("1/0") == 1 << 32
    assert r.lsn_to_int(None) is None
    assert r.timeline_of_walfile("000000020000000000000003") == 2
    assert r.timeline_of_walfile(None) is None


def test_jsonable():
    assert r.jsonable({"a": decimal.Decimal("12"), "b": decimal.Decimal("0.5"),
                       "t": datetime.datetime(2026, 1, 2, 3, 4, 5)}) == {"a": 12, "b": 0.5, "t": "2026-01-02T03:04:05"}


def test_primary_from_the_database():
    facts = r.apply_db(r.base_facts(), False, primary_row={"current_lsn": "0/5000060", "walfile": "000000030000000000000005"},
                       replication=[{"application_name": "n2", "replay_lag_bytes": decimal.Decimal(0)}],
                       archiver={"archived_count": 4, "failing": False})
    assert facts["role"] == "primary" and facts["timeline"] == 3 and facts["lag_bytes"] == 0
    assert facts["current_lsn"] == facts["replayed_lsn"] == "0/5000060"
    assert facts["replication"] == [{"application_name": "n2", "replay_lag_bytes": 0}]


def test_replica_from_the_database():
    facts = r.apply_db(r.base_facts(), True, replica_row={
        "received_lsn": "0/5000060", "replayed_lsn": "0/5000000", "lag_bytes": 96, "lag_seconds": 1.5,
        "receiver_timeline": None, "checkpoint_timeline": 3, "receiver_status": None, "sender_host": None})
    assert facts["role"] == "replica" and facts["in_recovery"] is True
    assert facts["current_lsn"] is None and facts["lag_bytes"] == 96 and facts["timeline"] == 3


MAP = {"leader": 1, "members": [
    {"id": 1, "name": "qluster-01", "address": "10.0.0.11", "api_port": 8080, "timeline": 2,
     "wal_position": "0/5000060", "replayed_lsn": None, "lag_bytes": 0},
    {"id": 2, "name": "qluster-02", "address": "10.0.0.12", "api_port": 8080, "timeline": 2,
     "wal_position": "0/5000000", "replayed_lsn": "0/4FFFF00", "lag_bytes": 96}]}


def test_pick_member():
    assert r.pick_member(MAP, api_url="http://10.0.0.12:8080")["id"] == 2
    assert r.pick_member(MAP, api_url="http://10.0.0.12:9999") is None
    assert r.pick_member(MAP, member="qluster-01")["id"] == 1
    assert r.pick_member(MAP, member="1")["id"] == 1
    assert r.pick_member(MAP, api_url="http://127.0.0.1:8080") is None


def test_api_only():
    health = {"ok": True, "state": {"pg_running": True, "in_recovery": True, "lag_bytes": 96, "observer": False}}
    facts = r.apply_api(r.base_facts(), MAP, health, MAP["members"][1])
    assert facts["sources"] == ["api"]
    assert facts["role"] == "replica" and facts["lag_bytes"] == 96 and facts["timeline"] == 2
    assert facts["received_lsn"] == "0/5000000" and facts["replayed_lsn"] == "0/4FFFF00"
    assert facts["map"] is MAP
    stopped = r.apply_api(r.base_facts(), MAP, {"ok": False, "state": {"pg_running": False}}, None)
    assert stopped["role"] == "stopped"


def test_database_values_win_over_the_agents():
    facts = r.apply_db(r.base_facts(), False, primary_row={"current_lsn": "0/6000000", "walfile": "000000020000000000000006"})
    facts = r.apply_api(facts, MAP, {"state": {"pg_running": True, "in_recovery": False}}, MAP["members"][0])
    assert facts["sources"] == ["db", "api"]
    assert facts["current_lsn"] == "0/6000000"
    assert facts["agent_member"]["name"] == "qluster-01"


def test_a_replica_that_stopped_receiving_lags_by_its_distance_from_the_leader():
    # Its own database has replayed all it received: 0 there. The agent measures it against the
    # leader's position; the module's own example check must fail on such a replica.
    facts = r.apply_db(r.base_facts(), True, replica_row={
        "received_lsn": "0/4000000", "replayed_lsn": "0/4000000", "lag_bytes": 0, "lag_seconds": 0.0,
        "receiver_timeline": None, "checkpoint_timeline": 2, "receiver_status": None, "sender_host": None})
    disconnected = dict(MAP["members"][1], lag_bytes=0x1000060)
    facts = r.apply_api(facts, MAP, {"state": {"pg_running": True, "in_recovery": True}}, disconnected)
    assert facts["lag_bytes"] == 0x1000060
    # A replica still receiving keeps the database's figure when it is the larger one.
    facts = r.apply_db(r.base_facts(), True, replica_row={
        "received_lsn": "0/5000060", "replayed_lsn": "0/5000000", "lag_bytes": 96, "lag_seconds": 0.1,
        "receiver_timeline": 2, "checkpoint_timeline": 2, "receiver_status": "streaming", "sender_host": "h"})
    assert r.apply_api(facts, MAP, {}, dict(MAP["members"][1], lag_bytes=0))["lag_bytes"] == 96


def test_the_default_api_url_on_loopback_finds_the_row_of_the_node_that_answered():
    health = {"ok": True, "state": {"pg_running": True, "in_recovery": True, "node_id": 2}}
    assert r.pick_member(MAP, api_url="http://127.0.0.1:8080", health=health)["id"] == 2
    assert r.pick_member(MAP, api_url="http://127.0.0.1:8080", health={"state": {}}) is None


def test_a_replica_whose_distance_from_the_leader_nobody_knows_has_an_unknown_lag_not_0():
    # Cut off from the leader, its agent has no leader's position to measure against (the map's
    # lag_bytes is null); its own database has replayed all it received. Unknown is not "no lag":
    # the module's example check (lag_bytes is not none and ...) must fail on it.
    replayed_all = {"received_lsn": "0/4000000", "replayed_lsn": "0/4000000", "lag_bytes": 0, "lag_seconds": 0.0,
                    "receiver_timeline": None, "checkpoint_timeline": 2, "receiver_status": None, "sender_host": None}
    cut_off = dict(MAP["members"][1], lag_bytes=None)
    facts = r.apply_api(r.apply_db(r.base_facts(), True, replica_row=replayed_all), MAP, {}, cut_off)
    assert facts["lag_bytes"] is None
    # Nor when the module found no row of this node in the map.
    facts = r.apply_api(r.apply_db(r.base_facts(), True, replica_row=replayed_all), MAP, {}, None)
    assert facts["lag_bytes"] is None
    # The database alone (sources: [db]) can only say what it received and not replayed.
    assert r.apply_db(r.base_facts(), True, replica_row=replayed_all)["lag_bytes"] == 0
    # Through the agent only: its health says the same null, and so does the map's row.
    api_only = r.apply_api(r.base_facts(), MAP, {"state": {"pg_running": True, "in_recovery": True, "lag_bytes": None}},
                           cut_off)
    assert api_only["role"] == "replica" and api_only["lag_bytes"] is None


def test_the_primary_keeps_lag_0_whatever_the_map_says():
    facts = r.apply_db(r.base_facts(), False, primary_row={"current_lsn": "0/6000000", "walfile": "000000020000000000000006"})
    facts = r.apply_api(facts, MAP, {}, None)
    assert facts["lag_bytes"] == 0
