"""From the cluster map to HAProxy runtime API commands: which servers each backend gets."""

from __future__ import annotations

import pytest

from qluster_agent.pooler.plan import (MapError, Member, Server, add_commands, demote_commands, leader_from_map,
                                       leader_heard_ago, member_id, members_from_json, members_from_map, node_timeout_of,
                                       parse_servers_state, plan, server_name)

OPTIONS = "check inter 1s fall 2 rise 1 on-marked-down shutdown-sessions"


def row(node_id, name, address, role="follower", voter=True, db_port=5432, api_port=8080):
    return {"id": node_id, "name": name, "address": address, "api_port": api_port, "db_port": db_port,
            "role": role, "voter": voter, "state": "healthy"}


MAP = {"leader": 1, "term": 3, "members": [
    row(1, "qluster-01", "10.0.0.1", role="leader"),
    row(2, "qluster-02", "10.0.0.2"),
    row(3, "qluster-03", "10.0.0.3"),
    row(9, "qluster-nfs", "10.0.0.9", role="observer", voter=False, db_port=None),
]}
N1, N2, N3 = (Member(f"qluster-0{i}", f"10.0.0.{i}", 5432, 8080) for i in (1, 2, 3))


def server(name, address, port=5432, check_port=8080, admin=0, weight=1, backend="pg_rw", op_state=2):
    return Server(backend, name, address, port, check_port, admin, weight, op_state)


def test_every_voter_is_a_member_and_the_observer_is_not():
    assert members_from_map(MAP) == (N1, N2, N3)


def test_an_unreachable_voter_stays_so_it_serves_again_once_back():
    data = {"members": [dict(row(1, "qluster-01", "10.0.0.1"), state="unreachable")]}
    assert members_from_map(data) == (N1,)


def test_a_node_that_is_still_joining_is_not_a_member_yet():
    data = {"members": MAP["members"] + [row(4, "qluster-04", "10.0.0.4", role="joining", voter=False)]}
    assert members_from_map(data) == (N1, N2, N3)


def test_a_map_without_voters_means_unknown_not_empty():
    # An observer that has not been added yet sees nobody: that must not empty HAProxy.
    assert members_from_map({"leader": None, "members": []}) is None
    assert members_from_map({"members": [MAP["members"][3]]}) is None


@pytest.mark.parametrize("data,message", [
    ([], "no member list"),
    ({"members": "x"}, "no member list"),
    ({"members": [row(1, "a", "")]}, "has no address"),
    ({"members": [row(1, "a", "10.0.0.1", db_port=None)]}, "db_port: None is not a TCP port"),
    ({"members": [row(1, "a", "10.0.0.1", api_port=70000)]}, "api_port: 70000 is not a TCP port"),
])
def test_a_malformed_map_is_an_error_naming_the_value(data, message):
    with pytest.raises(MapError, match=message):
        members_from_map(data)


def test_server_names_keep_to_haproxy_characters_and_two_equal_names_stay_apart():
    assert server_name("db 1.example/x") == "db_1.example_x"
    assert server_name("-x") == "n-x"
    data = {"members": [row(1, "db", "10.0.0.1"), row(2, "db", "10.0.0.2")]}
    assert [m.name for m in members_from_map(data)] == ["db", "db-2"]


def test_the_leader_is_named_as_its_server():
    assert leader_from_map(MAP) == "qluster-01"
    data = {"leader": 2, "members": [row(1, "db", "10.0.0.1"), row(2, "db", "10.0.0.2", role="leader")]}
    assert leader_from_map(data) == "db-2"  # the same name plan() gives it
    for leader in (None, 9, 7, [1], True):  # none, the observer, unknown, malformed
        assert leader_from_map(dict(MAP, leader=leader)) is None


def test_a_former_leader_is_marked_down_and_its_sessions_closed():
    assert demote_commands("pg_rw", "qluster-01") == ["set server pg_rw/qluster-01 health down",
                                                      "shutdown sessions server pg_rw/qluster-01"]


def test_members_round_trip_through_json():
    assert members_from_json([m.to_json() for m in (N3, N1)]) == (N1, N3)
    with pytest.raises(MapError):
        members_from_json([{"name": "x"}])


HEADER = ("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
          "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
          "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
          "srv_check_addr srv_agent_addr srv_agent_port")
STATE = "\n".join([
    "1",
    HEADER,
    "3 pg_rw 1 qluster-01 10.0.0.1 2 0 1 0 15 15 3 2 6 0 0 0 - 5432 - 0 8080 - - 8080",
    "3 pg_rw 2 qluster-02 10.0.0.2 0 1 0 0 1 1 0 0 6 0 0 0 - 5432 - 0 8080 - - 8080",
    "", "",
])


def test_show_servers_state_is_parsed():
    assert parse_servers_state(STATE) == [
        server("qluster-01", "10.0.0.1"),
        server("qluster-02", "10.0.0.2", admin=1, weight=0, op_state=0),
    ]
    assert parse_servers_state("1\n# be_id be_name\n") == []
    with pytest.raises(ValueError):
        parse_servers_state("Can't find backend.\n")


def commands(steps):
    return [c for s in steps for c in s.commands]


def test_nothing_to_do_when_haproxy_matches_the_map():
    current = [server(m.name, m.address) for m in (N1, N2, N3)]
    assert plan("pg_rw", (N1, N2, N3), current, OPTIONS) == []


def test_a_new_node_is_added_out_of_rotation_until_its_own_check_passes():
    steps = plan("pg_rw", (N1, N2), [server("qluster-01", "10.0.0.1")], OPTIONS)
    assert [s.reason for s in steps] == ["pg_rw/qluster-02 (10.0.0.2:5432) joined the cluster; adding it"]
    assert commands(steps) == [
        f"add server pg_rw/qluster-02 10.0.0.2:5432 {OPTIONS} port 8080 weight 0",
        "enable health pg_rw/qluster-02",
        "enable server pg_rw/qluster-02",
        "set server pg_rw/qluster-02 health down",
        "set weight pg_rw/qluster-02 1",
    ]


def test_a_removed_node_is_drained_and_deleted():
    current = [server(m.name, m.address) for m in (N1, N2, N3)]
    steps = plan("pg_rw", (N1, N2), current, OPTIONS)
    assert commands(steps) == ["set server pg_rw/qluster-03 state maint", "shutdown sessions server pg_rw/qluster-03",
                               "del server pg_rw/qluster-03"]
    assert "no longer in the cluster" in steps[0].reason


def test_a_moved_node_is_replaced_and_removals_come_before_additions():
    moved = Member("qluster-02", "10.0.0.22", 5433, 8081)
    current = [server("qluster-02", "10.0.0.2"), server("old", "10.0.0.7")]
    steps = plan("pg_rw", (moved, N3), current, OPTIONS)
    assert [s.commands[0] for s in steps] == ["set server pg_rw/old state maint",
                                              "set server pg_rw/qluster-02 state maint",
                                              f"add server pg_rw/qluster-03 10.0.0.3:5432 {OPTIONS} port 8080 weight 0"]
    assert f"add server pg_rw/qluster-02 10.0.0.22:5433 {OPTIONS} port 8081 weight 0" in steps[1].commands
    assert "moved from 10.0.0.2:5432" in steps[1].reason


@pytest.mark.parametrize("admin,weight", [(1, 1), (0, 0), (1, 0)])
def test_a_half_added_server_is_added_again(admin, weight):
    steps = plan("pg_ro", (N1,), [server("qluster-01", "10.0.0.1", admin=admin, weight=weight, backend="pg_ro")],
                 OPTIONS)
    assert commands(steps) == ["set server pg_ro/qluster-01 state maint", "shutdown sessions server pg_ro/qluster-01",
                               "del server pg_ro/qluster-01"] + add_commands("pg_ro", N1, OPTIONS)


def test_only_the_named_backend_is_planned():
    assert plan("pg_ro", (), [server("qluster-01", "10.0.0.1", backend="pg_rw")], OPTIONS) == []


@pytest.mark.parametrize("data,expected", [
    ({"leader": 1, "switchover_to": 2}, 2),
    ({"leader": 1, "switchover_to": None}, None),
    ({"leader": 1}, None),  # an agent from before switchover_to
    ({"switchover_to": True}, None),
    ({"switchover_to": "2"}, None),
    ({"switchover_to": 0}, None),
    ([], None),
])
def test_the_switchover_target_is_a_member_id_or_none(data, expected):
    assert member_id(data, "switchover_to") == expected


def test_the_leader_heard_ago_and_the_node_timeout_come_from_the_map():
    rows = [{"id": 1, "last_seen_s": 0.4}, {"id": 2, "last_seen_s": 0.01}, {"id": 3}]
    assert leader_heard_ago({"leader": 1, "members": rows}) == 0.4
    assert leader_heard_ago({"leader": 2, "members": rows}) == 0.01
    assert leader_heard_ago({"leader": 3, "members": rows}) is None  # not said
    assert leader_heard_ago({"leader": None, "members": rows}) is None
    assert leader_heard_ago({"leader": 1, "members": [{"id": 1, "last_seen_s": True}]}) is None
    assert leader_heard_ago(["not", "a", "map"]) is None
    assert node_timeout_of({"node_timeout_s": 0.8}) == 0.8
    assert node_timeout_of({"node_timeout_s": 0}) is None
    assert node_timeout_of({"node_timeout_s": "0.8"}) is None
    assert node_timeout_of({}) is None
