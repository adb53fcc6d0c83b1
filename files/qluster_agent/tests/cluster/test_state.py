"""The replicated state machine: commands apply deterministically and survive a snapshot."""

from __future__ import annotations

import json

import pytest

from qluster_agent.cluster.state import HISTORY_LIMIT, ClusterState, CommandError, LeaderChange, MemberInfo
from qluster_agent.config.runtime import default_cluster_settings, validate_cluster_update

DEFAULTS = default_cluster_settings()
N1 = MemberInfo(1, "qluster-01", "10.0.0.1", 8080, 5432)
POOLER = MemberInfo(9, "qluster-nfs", "10.0.0.9", 8080, None, observer=True)


def test_member_commands_add_update_and_forget():
    state = ClusterState(DEFAULTS).apply(ClusterState.cmd_member(N1)).apply(ClusterState.cmd_member(POOLER))
    assert state.members == {1: N1, 9: POOLER}
    moved = MemberInfo(1, "qluster-01", "10.0.0.11", 8080, 5432)
    state = state.apply(ClusterState.cmd_member(moved))
    assert state.members[1].address == "10.0.0.11"
    state = state.apply(ClusterState.cmd_forget(9))
    assert set(state.members) == {1}
    assert state.removed == {9}
    # An explicit add takes a removed member back.
    assert state.apply(ClusterState.cmd_member(POOLER)).removed == frozenset()


def test_settings_command_changes_only_what_it_names():
    new, problems = validate_cluster_update({"node-timeout": "5s"}, DEFAULTS)
    assert not problems
    state = ClusterState(DEFAULTS).apply(ClusterState.cmd_settings(new))
    assert state.settings.node_timeout == 5.0
    assert state.settings.heartbeat_interval == DEFAULTS.heartbeat_interval


@pytest.mark.parametrize("command", [b"not json", b'{"op": "launch"}', b'{"nop": 1}'])
def test_bad_commands_are_rejected_the_same_way_everywhere(command):
    with pytest.raises(CommandError):
        ClusterState(DEFAULTS).apply(command)


def test_snapshot_round_trip():
    state = (ClusterState(DEFAULTS).apply(ClusterState.cmd_member(N1))
             .apply(ClusterState.cmd_member(POOLER)).apply(ClusterState.cmd_reinit(1, "r-1")))
    new, problems = validate_cluster_update({"heartbeat-interval": "50ms"}, DEFAULTS)
    assert not problems
    state = state.apply(ClusterState.cmd_settings(new))
    again = ClusterState.from_snapshot(state.to_snapshot(), DEFAULTS)
    assert again == state
    assert again.members == state.members
    assert again.reinit_requests == {1: "r-1"}
    forgotten = state.apply(ClusterState.cmd_forget(9))
    assert ClusterState.from_snapshot(forgotten.to_snapshot(), DEFAULTS).removed == {9}


def test_empty_snapshot_is_the_defaults():
    assert ClusterState.from_snapshot(b"", DEFAULTS).settings == DEFAULTS


def test_the_database_system_is_recorded_and_survives_a_snapshot():
    state = ClusterState(DEFAULTS).apply(ClusterState.cmd_database(7312345678901234567))
    assert state.database_system == 7312345678901234567
    assert ClusterState.from_snapshot(state.to_snapshot(), DEFAULTS).database_system == 7312345678901234567
    assert ClusterState.from_snapshot(ClusterState(DEFAULTS).to_snapshot(), DEFAULTS).database_system is None


def test_a_snapshot_with_a_value_now_out_of_bounds_restores_with_that_key_at_its_default():
    # Written before the bounds existed: an unbounded node-timeout (failover off). The node must
    # still start and rejoin; the valid keys are kept, the bad one falls back to config.yaml's.
    stored = json.loads(ClusterState(DEFAULTS).to_snapshot())
    stored["settings"].update({"node-timeout": "99999999999999999999h", "heartbeat-interval": "200ms"})
    state = ClusterState.from_snapshot(json.dumps(stored).encode(), DEFAULTS)
    assert state.settings.node_timeout == DEFAULTS.node_timeout
    assert state.settings.heartbeat_interval == 0.2


def test_pause_and_resume_are_replicated_and_survive_a_snapshot():
    state = ClusterState(DEFAULTS)
    assert state.paused is False
    paused = state.apply(ClusterState.cmd_pause(True))
    assert paused.paused is True
    assert ClusterState.from_snapshot(paused.to_snapshot(), DEFAULTS).paused is True
    assert paused.apply(ClusterState.cmd_pause(False)).paused is False
    with pytest.raises(CommandError):
        state.apply(b'{"op": "pause", "paused": "yes"}')
    # A snapshot of an agent older than maintenance mode: not paused, no history.
    old = json.loads(state.to_snapshot())
    del old["paused"], old["history"]
    restored = ClusterState.from_snapshot(json.dumps(old).encode(), DEFAULTS)
    assert (restored.paused, restored.history) == (False, ())


def change(term, from_id, to_id, reason="failover"):
    return LeaderChange(1000.0 + term, term, from_id, to_id, reason)


def test_leader_changes_are_kept_in_order_once_per_term_and_bounded():
    state = ClusterState(DEFAULTS)
    for term in range(1, HISTORY_LIMIT + 21):
        state = state.apply(ClusterState.cmd_leader_change(change(term, term - 1 or None, term)))
    assert len(state.history) == HISTORY_LIMIT
    assert [c.term for c in state.history] == list(range(21, HISTORY_LIMIT + 21))
    # A second proposal for a term already recorded (or an older one) adds nothing.
    assert state.apply(ClusterState.cmd_leader_change(change(HISTORY_LIMIT + 20, 1, 2))) == state
    again = ClusterState.from_snapshot(state.to_snapshot(), DEFAULTS)
    assert again.history == state.history


@pytest.mark.parametrize("command", [
    b'{"op": "leader", "change": {"at": 1, "term": 2, "from": null, "to": 1, "reason": "whim"}}',
    b'{"op": "leader", "change": {"at": 1, "term": 2}}',
    b'{"op": "leader"}',
])
def test_bad_leader_changes_are_rejected(command):
    with pytest.raises(CommandError):
        ClusterState(DEFAULTS).apply(command)
