"""The leader's membership plan: newcomers in one step at a time, removals only when safe."""

from __future__ import annotations

from qluster_agent.agent.beacon import Beacon
from concurrent.futures import Future

import pytest

from qluster_agent.agent.membership import Membership, info_from_beacon, next_step, removal_problem
from qluster_agent.cluster.state import ClusterState
from qluster_agent.config.runtime import default_cluster_settings
from qluster_agent.pg.status import DataDirState, PgStatus
from qluster_agent.raft.types import ConfChange, ConfChangeType, ConfState

B1 = Beacon("qluster-01", "10.0.0.1", 8080, 5432, False)
B2 = Beacon("qluster-02", "10.0.0.2", 8080, 5432, False)
POOLER = Beacon("qluster-nfs", "10.0.0.9", 8080, None, True)
EMPTY = ClusterState(default_cluster_settings())


def test_newcomer_gets_metadata_first_then_joins_as_voter():
    conf = ConfState(frozenset({1}))
    state = EMPTY.apply(ClusterState.cmd_member(info_from_beacon(1, B1)))
    step = next_step(conf, state, {1: B1, 2: B2})
    assert step.command == ClusterState.cmd_member(info_from_beacon(2, B2)) and step.change is None
    state = state.apply(step.command)
    step = next_step(conf, state, {1: B1, 2: B2})
    assert step.change == ConfChange(ConfChangeType.ADD_VOTER, 2)
    assert "adding node 2 (qluster-02) as a voter" == step.reason


def test_pooler_joins_as_observer():
    conf = ConfState(frozenset({1}))
    state = EMPTY.apply(ClusterState.cmd_member(info_from_beacon(1, B1))).apply(
        ClusterState.cmd_member(info_from_beacon(9, POOLER))
    )
    assert next_step(conf, state, {1: B1, 9: POOLER}).change == ConfChange(ConfChangeType.ADD_OBSERVER, 9)


def test_nothing_to_do_when_everyone_is_in():
    conf = ConfState(frozenset({1, 2}))
    state = EMPTY.apply(ClusterState.cmd_member(info_from_beacon(1, B1))).apply(
        ClusterState.cmd_member(info_from_beacon(2, B2))
    )
    assert next_step(conf, state, {1: B1, 2: B2}) is None


def test_removed_member_is_not_taken_back_automatically():
    conf = ConfState(frozenset({1}))
    state = EMPTY.apply(ClusterState.cmd_member(info_from_beacon(1, B1))).apply(ClusterState.cmd_forget(2))
    assert next_step(conf, state, {1: B1, 2: B2}) is None


def test_changed_address_is_recorded():
    conf = ConfState(frozenset({1}))
    state = EMPTY.apply(ClusterState.cmd_member(info_from_beacon(1, B1)))
    moved = Beacon("qluster-01", "10.0.0.11", 8080, 5432, False)
    step = next_step(conf, state, {1: moved})
    assert step.reason.startswith("updating the metadata of node 1")


def test_removal_checks():
    conf = ConfState(frozenset({1, 2, 3}), frozenset({9}))
    assert removal_problem(conf, 1, 7, {1, 2, 3}) == "node 7 is not a member"
    assert "is the leader" in removal_problem(conf, 1, 1, {1, 2, 3})
    assert removal_problem(conf, 1, 9, {1}) is None  # observers never count for quorum
    assert removal_problem(conf, 1, 3, {1, 2, 3}) is None
    # Removing 3 leaves {1, 2}; with 2 unreachable only 1 of 2 is up: no quorum.
    assert "only 1 of the remaining 2 voters" in removal_problem(conf, 1, 3, {1, 3})


def test_the_leader_records_its_running_database_once():
    conf = ConfState(frozenset({1, 2}))
    state = EMPTY.apply(ClusterState.cmd_member(info_from_beacon(1, B1))).apply(
        ClusterState.cmd_member(info_from_beacon(2, B2))
    )
    step = next_step(conf, state, {1: B1, 2: B2}, primary_system=42)
    assert step.command == ClusterState.cmd_database(42)
    assert next_step(conf, state.apply(step.command), {1: B1, 2: B2}, primary_system=42) is None


# --- Membership: the leader's duty, one proposal at a time ------------------------------------

PRIMARY = PgStatus(datadir=DataDirState.VALID, running=True, accepting=True, in_recovery=False, timeline=1,
                   current_lsn=0x3000000, system_identifier=77)
REPLICA = PgStatus(datadir=DataDirState.VALID, running=True, accepting=True, in_recovery=True, timeline=1,
                   received_lsn=0x3000000, system_identifier=77)
RECORDED = EMPTY.apply(ClusterState.cmd_member(info_from_beacon(1, B1)))


def done() -> Future:
    future: Future = Future()
    future.set_result(5)
    return future


# (cluster state, my database, the proposal before) -> the step proposed now (its reason), or None
@pytest.mark.parametrize("state, pg, before, reason", [
    pytest.param(RECORDED, PRIMARY, None, "recording the cluster's database (system 77)",
                 id="a primary's system is recorded first"),
    pytest.param(RECORDED, REPLICA, None, "recording the metadata of node 2 (qluster-02)",
                 id="a database that is not the primary is not recorded"),
    pytest.param(RECORDED.apply(ClusterState.cmd_database(77)), PRIMARY, None,
                 "recording the metadata of node 2 (qluster-02)", id="recorded once"),
    pytest.param(RECORDED, None, None, "recording the metadata of node 2 (qluster-02)", id="no database status"),
    pytest.param(RECORDED, PRIMARY, Future(), None, id="the step before is still pending: nothing new"),
    pytest.param(RECORDED, PRIMARY, done(), "recording the cluster's database (system 77)",
                 id="the step before committed: the next"),
])
def test_the_leaders_next_membership_step(state, pg, before, reason) -> None:
    membership = Membership()
    if before is not None:
        membership.proposed(before)
    step = membership.next_step(ConfState(frozenset({1})), state, {1: B1, 2: B2}, pg)
    assert (step.reason if step else None) == reason


def test_a_failed_proposal_lets_the_step_be_proposed_again() -> None:
    membership = Membership()
    failed: Future = Future()
    membership.proposed(failed)
    assert membership.next_step(ConfState(frozenset({1})), RECORDED, {1: B1, 2: B2}, None) is None
    failed.set_exception(TimeoutError("not committed"))
    assert membership.next_step(ConfState(frozenset({1})), RECORDED, {1: B1, 2: B2}, None) is not None
