"""From the seed's durations to ticks: the heartbeat is always a small fraction of the lease."""
from __future__ import annotations

import pytest

from qluster_agent.agent.timing import core_config, glance_interval
from qluster_agent.config.heartbeat import BEATS_PER_LEASE
from qluster_agent.config.runtime import default_cluster_settings, validate_cluster_update

TICK = 0.05
SEED_10_5 = {"heartbeat-interval": "5s", "leader-voting-timeout": "5s", "node-timeout": "5s",
             "pre-voting-timeout": "5s", "replication-retry-interval": "1s"}
SEED_6_3 = {"node-timeout": "30s", "heartbeat-interval": "10s", "pre-voting-timeout": "10s",
            "leader-voting-timeout": "10s", "replication-retry-interval": "1s", "set-leader-timeout": "30s"}


def settings_of(body):
    settings, problems = validate_cluster_update(body, default_cluster_settings())
    assert not problems
    return settings


@pytest.mark.parametrize("body, election, heartbeat, lease", [
    ({}, 16, 2, 10),  # the LAN defaults: 800 ms, 100 ms beats, 500 ms lease
    (SEED_10_5, 100, 15, 62),  # 5 s beats become 750 ms: four per 3.1 s lease
    (SEED_6_3, 600, 93, 375),  # 10 s beats become 4.65 s: four per 18.75 s lease
    ({"node-timeout": "5s", "heartbeat-interval": "100ms"}, 100, 2, 62),  # a short beat is kept
    ({"node-timeout": "200ms", "heartbeat-interval": "200ms"}, 4, 1, 2),
])
def test_ticks_of_the_seed_timings(body, election, heartbeat, lease):
    config = core_config(1, settings_of(body), TICK, observer=False)
    assert (config.election_ticks, config.heartbeat_ticks, config.lease_ticks) == (election, heartbeat, lease)


@pytest.mark.parametrize("node_timeout_ms", [200, 250, 400, 800, 1000, 3000, 5000, 30000, 60000])
def test_a_lease_always_holds_several_beats_whatever_heartbeat_interval_says(node_timeout_ms):
    body = {"node-timeout": f"{node_timeout_ms}ms", "heartbeat-interval": f"{node_timeout_ms}ms"}
    config = core_config(1, settings_of(body), TICK, observer=False)
    assert config.heartbeat_ticks * min(BEATS_PER_LEASE, config.lease_ticks) <= config.lease_ticks
    assert config.lease_ticks < config.election_ticks


def test_the_default_leader_survives_a_freeze_of_its_host_for_0_4_s():
    """A frozen leader's answers are as old as its last beat: it keeps its lease through a freeze of
    up to a lease less one heartbeat interval. The lab's 0.3 s pauses last up to 0.37 s (bench e)."""
    config = core_config(1, default_cluster_settings(), TICK, observer=False)
    assert (config.lease_ticks - config.heartbeat_ticks) * TICK >= 0.4
    assert config.election_ticks - config.lease_ticks >= 6  # 300 ms of margin before any pre-vote


@pytest.mark.parametrize("node_timeout_ms", [200, 400, 800, 1500, 5000, 30000])
def test_a_glance_reads_a_dead_leaders_last_wal_before_any_pre_vote(node_timeout_ms):
    """The position a node campaigns with is at most one glance old: a glance interval under
    half of node-timeout (the shortest election timeout) has read it well before a pre-vote."""
    glance = glance_interval(settings_of({"node-timeout": f"{node_timeout_ms}ms",
                                          "heartbeat-interval": "50ms"}))
    assert 0.1 <= glance <= 0.5
    assert glance <= node_timeout_ms / 1000 / 2


def test_an_idle_node_glances_at_its_database_under_four_times_a_second_at_the_defaults():
    assert 1 / glance_interval(default_cluster_settings()) < 4
