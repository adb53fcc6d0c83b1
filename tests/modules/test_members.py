"""qluster_member's planning over a cluster map: which member is meant, when it is ready, and
whether (and how) it can be removed without losing quorum."""

from __future__ import annotations

import itertools

import pytest

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_members import (
    PlanError, cluster_facts, designates, find_member, ipv4_node_id, member_body, member_ready, plan_removal,
    quorum_problem, switchover_candidates)
from qluster_agent.agent.membership import removal_problem
from qluster_agent.raft.types import ConfState


def row(node_id, role="follower", state="healthy", db_role="replica", streaming=True, voter=True, lag=0):
    return {"id": node_id, "name": f"qluster-0{node_id}", "address": f"10.0.0.1{node_id}", "api_port": 8080,
            "db_port": 5432, "role": role, "voter": voter, "state": state, "db_role": db_role,
            "streaming": streaming, "lag_bytes": lag}


def three_nodes(**changes):
    rows = {1: row(1, role="leader", db_role="primary", streaming=False), 2: row(2, lag=100), 3: row(3, lag=10)}
    for node_id, fields in changes.items():
        rows[int(node_id[1:])].update(fields)
    return {"leader": 1, "term": 3, "members": list(rows.values())}


def test_node_id_from_address_is_the_agents_default():
    assert ipv4_node_id("127.0.0.9") == int.from_bytes(bytes([127, 0, 0, 9]), "big")
    with pytest.raises(PlanError, match="'qluster-04' is not an IPv4 address"):
        ipv4_node_id("qluster-04")


def test_find_by_any_identifier():
    cmap = three_nodes()
    assert find_member(cmap, name="qluster-02")["id"] == 2
    assert find_member(cmap, address="10.0.0.13")["id"] == 3
    assert find_member(cmap, member_id=1, name="qluster-01", address="10.0.0.11")["id"] == 1
    assert find_member(cmap, name="qluster-09", address="10.0.0.19") is None


def test_identifiers_that_disagree_are_refused():
    with pytest.raises(PlanError, match="designate different members"):
        find_member(three_nodes(), name="qluster-02", address="10.0.0.13")
    with pytest.raises(PlanError, match="its address is '10.0.0.12', not '10.0.0.99'"):
        find_member(three_nodes(), name="qluster-02", address="10.0.0.99")


def test_readiness():
    cmap = three_nodes(n3={"streaming": False, "state": "degraded"})
    members = {r["id"]: r for r in cmap["members"]}
    assert member_ready(members[1], 1)[0]
    assert member_ready(members[2], 1)[0]
    ready, why = member_ready(members[3], 1)
    assert not ready and "streaming False" in why
    assert not member_ready(None, 1)[0]
    assert member_ready(row(4, role="observer", db_role="unknown", streaming=False, voter=False), 1)[0]
    assert not member_ready(row(5, role="joining", state="unreachable", db_role="unknown", streaming=False,
                                voter=False), 1)[0]
    # A replica that streams but is not heard from (stale beacon) or runs a long operation is not
    # ready; neither is a primary that is not the leader (the agent calls it degraded).
    for state in ("unreachable", "rewind"):
        ready, why = member_ready(row(6, state=state), 1)
        assert not ready and f"state {state}" in why
    assert not member_ready(row(7, db_role="primary", streaming=False, state="degraded"), 1)[0]
    assert not member_ready(row(1, role="leader", db_role="primary", streaming=False, state="unreachable"), 1)[0]


def test_a_member_is_named_by_id_name_or_address_with_or_without_port():
    member = dict(row(2), address="10.0.0.12:5432")
    for ref in (2, "2", "qluster-02", "10.0.0.12:5432", "10.0.0.12"):
        assert designates(member, ref), ref
    for ref in (None, "", "10.0.0.1", "10.0.0.12:", "10.0.0.12:x", "qluster-0", 3):
        assert not designates(member, ref), ref
    assert designates(row(2), "10.0.0.12") and not designates(row(2), "10.0.0.1")


def test_switchover_candidates_are_the_ready_followers_least_lag_first():
    cmap = three_nodes(n2={"lag_bytes": None})
    cmap["members"].append(row(4, lag=5, state="unreachable"))
    cmap["members"].append(row(5, lag=7))
    cmap["members"].append(row(6, role="observer", voter=False, db_role="unknown", streaming=False))
    assert [r["id"] for r in switchover_candidates(cmap, 1)] == [5, 3, 2]  # lags 7, 10, unknown


def test_cluster_facts_of_a_healthy_map():
    facts = cluster_facts(dict(three_nodes(), cluster_id="c1"), member="10.0.0.12")
    assert facts["leader"]["id"] == 1 and facts["leader"]["ready"] is True
    assert facts["leader"]["ready_reason"] == "leader, database primary, state healthy"
    assert facts["member"]["id"] == 2 and facts["member"]["ready"] is True
    assert [m["ready"] for m in facts["members"]] == [True, True, True]
    assert [m["id"] for m in facts["switchover_candidates"]] == [3, 2]
    assert facts["map"]["cluster_id"] == "c1" and facts["term"] == 3
    assert (facts["member_count"], facts["voter_count"], facts["healthy_count"], facts["ready_count"]) == (3, 3, 3, 3)
    assert facts["max_lag_bytes"] == 100


def test_cluster_facts_without_a_leader_or_with_an_unknown_lag():
    cmap = three_nodes()
    facts = cluster_facts(dict(cmap, leader=None))
    assert facts["leader"] == {} and facts["timeline"] is None and facts["max_lag_bytes"] is None
    assert facts["member"] == {} and facts["switchover_candidates"] == []
    # Without a leader nobody's database is "the leader's primary": only the streaming replicas are ready.
    assert facts["ready_count"] == 2
    rows = [dict(r, timeline=4) for r in cmap["members"]]
    rows[2].update(lag_bytes=None, state="unreachable")
    facts = cluster_facts(dict(cmap, members=rows), member="qluster-09")
    assert facts["timeline"] == 4 and facts["max_lag_bytes"] is None and facts["member"] == {}
    assert (facts["healthy_count"], facts["ready_count"]) == (2, 2)
    single = {"leader": 1, "members": [row(1, role="leader", db_role="primary", streaming=False)]}
    assert cluster_facts(single)["max_lag_bytes"] == 0


def test_cluster_facts_refuse_a_member_that_names_two_rows():
    cmap = three_nodes(n3={"name": "10.0.0.12"})
    with pytest.raises(PlanError, match="names more than one member"):
        cluster_facts(cmap, member="10.0.0.12")


def test_member_body():
    assert member_body(7, "q7", "10.0.0.17", 8080, 5432, False)["db_port"] == 5432
    assert member_body(7, "pooler", "10.0.0.17", 8080, 5432, True)["db_port"] is None


def test_remove_a_follower():
    assert plan_removal(three_nodes(), find_member(three_nodes(), member_id=3)) == {"switchover_to": None}


def test_remove_the_leader_needs_a_switchover():
    cmap = three_nodes()
    with pytest.raises(PlanError, match="it is the leader; set switchover=true"):
        plan_removal(cmap, cmap["members"][0])
    assert plan_removal(cmap, cmap["members"][0], switchover=True)["switchover_to"]["id"] == 3  # least lag
    assert plan_removal(cmap, cmap["members"][0], switchover=True, switchover_to="qluster-02")["switchover_to"]["id"] == 2


def test_switchover_only_to_a_healthy_streaming_voter():
    cmap = three_nodes(n2={"streaming": False, "state": "degraded"}, n3={"state": "basebackup"})
    with pytest.raises(PlanError, match="no other voter is a healthy streaming replica"):
        plan_removal(cmap, cmap["members"][0], switchover=True)
    cmap = three_nodes(n2={"streaming": False, "state": "degraded"})
    with pytest.raises(PlanError, match="switchover_to 'qluster-02' is not a healthy streaming voter"):
        plan_removal(cmap, cmap["members"][0], switchover=True, switchover_to="qluster-02")


def test_removal_that_breaks_quorum_is_refused():
    cmap = three_nodes(n3={"state": "unreachable"})
    with pytest.raises(PlanError, match="only 1 of the remaining 2 voters are reachable and 2 are needed"):
        plan_removal(cmap, cmap["members"][1])
    # Removing the unreachable one itself leaves two reachable voters: fine.
    assert plan_removal(cmap, cmap["members"][2]) == {"switchover_to": None}


def test_last_voter_and_observers():
    single = {"leader": 1, "members": [row(1, role="leader", db_role="primary", streaming=False)]}
    with pytest.raises(PlanError, match="is the last voter"):
        plan_removal(single, single["members"][0], switchover=True)
    observer = row(9, role="observer", voter=False, db_role="unknown", streaming=False)
    cmap = dict(single, members=single["members"] + [observer])
    assert plan_removal(cmap, observer) == {"switchover_to": None}


@pytest.mark.parametrize("states", list(itertools.product(["healthy", "unreachable"], repeat=4)), ids=str)
def test_quorum_rule_agrees_with_the_agents(states):
    """For every reachability pattern of four voters and each target, the module refuses a
    follower's removal exactly when the agent's own rule does."""
    rows = [row(i + 1, state=states[i]) for i in range(4)]
    rows[0].update(role="leader", db_role="primary")
    cmap = {"leader": 1, "members": rows}
    conf = ConfState(frozenset(r["id"] for r in rows), frozenset())
    reachable = {r["id"] for r in rows if r["state"] != "unreachable"}
    for target in rows[1:]:
        agent = removal_problem(conf, 1, target["id"], reachable)
        assert (quorum_problem(cmap, target) is None) == (agent is None), (target["id"], agent)
