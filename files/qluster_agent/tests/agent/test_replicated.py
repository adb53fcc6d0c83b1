"""ReplicatedState: committed entries and snapshots in, the cluster settings' changes out."""
from __future__ import annotations

from dataclasses import replace

from qluster_agent.agent.replicated import ReplicatedState
from qluster_agent.cluster.state import ClusterState
from qluster_agent.config.runtime import default_cluster_settings
from qluster_agent.raft.types import ConfState, Entry, EntryType, Snapshot

DEFAULTS = default_cluster_settings()
SLOWER = replace(DEFAULTS, node_timeout=5.0)


def state_and_calls():
    calls = []
    return ReplicatedState(DEFAULTS, calls.append), calls


def test_a_settings_entry_changes_the_settings_once():
    state, calls = state_and_calls()
    state.apply(Entry(2, 5, data=ClusterState.cmd_settings(SLOWER)))
    state.apply(Entry(2, 6, data=ClusterState.cmd_settings(SLOWER)))  # the same again: no change
    assert state.current().settings == SLOWER
    assert calls == [SLOWER]


def test_entries_that_carry_no_command_change_nothing():
    state, calls = state_and_calls()
    state.apply(Entry(2, 5))  # a new leader's empty entry
    state.apply(Entry(2, 6, EntryType.CONF_CHANGE, b"\x01"))  # the core applies those
    assert state.current() == ClusterState(DEFAULTS) and calls == []


def test_an_entry_that_cannot_be_applied_is_skipped(caplog):
    state, calls = state_and_calls()
    state.apply(Entry(2, 5, data=b'{"op": "nonsense"}'))
    assert state.current() == ClusterState(DEFAULTS) and calls == []
    assert "committed entry 5 cannot be applied" in caplog.text


def test_a_snapshot_replaces_the_state_and_always_reports_its_settings():
    state, calls = state_and_calls()
    state.restore(Snapshot(9, 2, ConfState(frozenset({1})), ClusterState(SLOWER).to_snapshot()))
    state.restore(Snapshot(0, 0, ConfState(frozenset({1}))))  # empty: config.yaml's settings
    assert calls == [SLOWER, DEFAULTS]
