"""heartbeat-interval against node-timeout and tick-interval: one rule (config/heartbeat.py) for
config.yaml, POST /config, the core's ticks and the collection's mirror."""
from __future__ import annotations

import itertools

import pytest

from qluster_agent.agent.timing import core_config
from qluster_agent.config import ConfigError, parse_config, parse_duration, validate_cluster_update
from qluster_agent.config.heartbeat import (BEATS_PER_LEASE, HEARTBEAT_MINIMUM, heartbeat_problem, heartbeat_range,
                                            heartbeat_ticks, lease_ticks, election_ticks)
from qluster_agent.config.keys import KEYS_BY_PATH
from qluster_agent.config.runtime import default_cluster_settings


def d(text):
    return parse_duration(text)


# (heartbeat-interval, node-timeout, tick-interval or None, problem or None), prefix "cluster.".
CASES = [
    ("100ms", "800ms", "50ms", None),  # the defaults
    ("5s", "5s", "50ms", None),  # seed 000 §10.5: equal ends are accepted
    ("10s", "30s", None, None),  # seed 000 §6.3
    ("10ms", "100ms", None, None),  # both key minimums, no tick known (POST /config applied)
    ("50ms", "800ms", "50ms", None),  # one tick
    ("2s", "1s", None, "cluster.heartbeat-interval: '2s' is out of range 10ms..1s at cluster.node-timeout '1s'"),
    ("2s", "1s", "50ms", "cluster.heartbeat-interval: '2s' is out of range 50ms..1s at cluster.node-timeout '1s' "
                         "and tick-interval '50ms'"),
    ("40ms", "800ms", "50ms", "cluster.heartbeat-interval: '40ms' is out of range 50ms..800ms at "
                              "cluster.node-timeout '800ms' and tick-interval '50ms'"),
    # An empty range: node-timeout's own problem (4 ticks at least) names the fix.
    ("100ms", "100ms", "1s", None),
]


@pytest.mark.parametrize("heartbeat, node_timeout, tick, problem", CASES)
def test_heartbeat_problem(heartbeat, node_timeout, tick, problem):
    assert heartbeat_problem(d(heartbeat), d(node_timeout), d(tick) if tick else None) == problem


def test_the_lower_end_is_the_keys_own_minimum():
    assert HEARTBEAT_MINIMUM == KEYS_BY_PATH["cluster.heartbeat-interval"].parse.minimum
    assert heartbeat_range(1.0) == (HEARTBEAT_MINIMUM, 1.0)
    assert heartbeat_range(1.0, 0.05) == (0.05, 1.0)


def test_config_yaml_and_post_config_refuse_the_same_heartbeat_with_the_same_range():
    document = {"ip": "10.0.0.1", "tick-interval": "50ms", "cluster": {"heartbeat-interval": "40ms"}}
    with pytest.raises(ConfigError) as refused:
        parse_config(document)
    assert refused.value.problems == [
        "cluster.heartbeat-interval: '40ms' is out of range 50ms..800ms at cluster.node-timeout '800ms' "
        "and tick-interval '50ms'"]
    # POST /config on a node names its tick as well (it used to accept a beat shorter than a tick).
    assert validate_cluster_update({"heartbeat-interval": "40ms"}, tick_interval=0.05) == (None, [
        "heartbeat-interval: '40ms' is out of range 50ms..800ms at node-timeout '800ms' and tick-interval '50ms'"])
    # A committed entry is applied without the node's tick: only the upper end counts there.
    assert validate_cluster_update({"heartbeat-interval": "40ms"})[1] == []


@pytest.mark.parametrize("heartbeat, node_timeout, beat", [
    ("100ms", "800ms", 2),  # the defaults: kept
    ("5s", "5s", 15),  # the seed's 5 s becomes 750 ms, four per 3.1 s lease
    ("10s", "30s", 93),
    ("200ms", "200ms", 1),
])
def test_the_beat_kept_is_the_key_or_a_quarter_of_the_lease(heartbeat, node_timeout, beat):
    assert heartbeat_ticks(d(heartbeat), d(node_timeout), 0.05) == beat


TICKS = ["1ms", "10ms", "50ms", "200ms", "1s"]
DURATIONS = ["10ms", "50ms", "100ms", "200ms", "800ms", "1s", "5s", "30s", "1m"]


@pytest.mark.parametrize("tick", TICKS)
def test_every_accepted_heartbeat_gives_ticks_the_core_accepts(tick):
    """The core's own check (heartbeat < lease < election) is never what refuses an accepted config."""
    base = default_cluster_settings()
    for heartbeat, node_timeout in itertools.product(DURATIONS, repeat=2):
        body = {"heartbeat-interval": heartbeat, "node-timeout": node_timeout}
        settings, problems = validate_cluster_update(body, base, tick_interval=d(tick))
        if problems:
            continue
        config = core_config(1, settings, d(tick), observer=False)  # raises on a broken invariant
        lease = lease_ticks(election_ticks(settings.node_timeout, d(tick)))
        assert config.heartbeat_ticks <= max(1, lease // BEATS_PER_LEASE), body
