"""Every number and duration has a range, the same for config.yaml and POST /config (issue 22).

A value out of range is refused with the key, the value and the range; nothing is applied.
"""

import pytest
import yaml

from qluster_agent.config import ConfigError, format_duration, parse_config, validate_cluster_update
from qluster_agent.config.checks import MAX_ELECTION_TICKS, tick_problems
from qluster_agent.config.heartbeat import MIN_ELECTION_TICKS
from qluster_agent.config.keys import KEYS, KEYS_BY_PATH, REQUIRED, DERIVED

from .seed import SEED_CONFIG_POST_BODY, SEED_CONFIG_YAML

# The ranges as issue 22 set them (durations) and as they were (integers); a change here is a
# change of the agent's contract, and of plugins/module_utils/qluster_settings.py.
RANGES = {
    "api-port": "1..65535",
    "udp.socket.pacing-rate": "0..1099511627776",
    "udp.socket.send-buffer-size": "4096..1073741824",
    "udp.socket.recv-buffer-size": "4096..1073741824",
    "udp.max-log-size": "512..65400",
    "udp.send-buffer-capacity": "1..1000000",
    "udp.recv-buffer-capacity": "1..1000000",
    "cluster.node-timeout": "100ms..1m",
    "cluster.heartbeat-interval": "10ms..1m",
    "cluster.pre-voting-timeout": "50ms..1m",
    "cluster.leader-voting-timeout": "50ms..1m",
    "cluster.replication-factor": "0..1000",
    "cluster.replication-retry-interval": "10ms..1m",
    "cluster.autoremove-minimum": "0..1000",
    "cluster.remove-interval": "1s..24h",
    "cluster.set-leader-timeout": "1s..10m",
    "hello-retry-interval": "100ms..1m",
    "node-id": "1..9223372036854775807",
    "tick-interval": "1ms..1s",
}
BOUNDED = [spec for spec in KEYS if spec.range_text]


def test_every_number_and_duration_has_the_range_of_the_issue():
    numeric = {spec.path for spec in KEYS if spec.kind == "duration" or "integer" in spec.kind}
    assert {spec.path for spec in BOUNDED} == numeric
    assert {spec.path: spec.range_text for spec in BOUNDED} == RANGES


@pytest.mark.parametrize("spec", [s for s in BOUNDED if s.default not in (REQUIRED, DERIVED)], ids=lambda spec: spec.path)
def test_every_default_lies_in_its_range(spec):
    shown = format_duration(spec.default) if spec.kind == "duration" else spec.default
    assert spec.parse(shown) == spec.default


def outside(spec):
    """The values just below and just above the range, as a user would write them."""
    low, high = spec.parse.minimum, spec.parse.maximum
    if spec.kind == "duration":
        below = [format_duration(low - 0.001)] if low > 0.001 else ["0ms"]
        return below + [format_duration(high + 0.001), "99999999999999999999h"]
    return [low - 1, high + 1]


def inside(spec):
    low, high = spec.parse.minimum, spec.parse.maximum
    if spec.kind == "duration":
        return [format_duration(low), format_duration(high)]
    return [low, high]


def document_with(path, value):
    document = {"ip": "10.0.0.1"}
    node = document
    *sections, name = path.split(".")
    for section in sections:
        node = node.setdefault(section, {})
    node[name] = value
    return document


CASES = [(spec, value) for spec in BOUNDED for value in outside(spec)]


@pytest.mark.parametrize("spec, value", CASES, ids=lambda x: getattr(x, "path", repr(x)))
def test_config_yaml_refuses_a_value_out_of_range_naming_key_value_and_range(spec, value):
    with pytest.raises(ConfigError) as error:
        parse_config(document_with(spec.path, value))
    assert error.value.problems == [f"{spec.path}: {value!r} is out of range {RANGES[spec.path]}"]


@pytest.mark.parametrize("spec, value", [case for case in CASES if case[0].runtime],
                         ids=lambda x: getattr(x, "path", repr(x)))
def test_post_config_refuses_a_value_out_of_range_naming_key_value_and_range(spec, value):
    assert validate_cluster_update({spec.name: value}) == (
        None, [f"{spec.name}: {value!r} is out of range {RANGES[spec.path]}"])


@pytest.mark.parametrize("spec", BOUNDED, ids=lambda spec: spec.path)
def test_the_ends_of_each_range_are_accepted(spec):
    for value in inside(spec):
        spec.parse(value)


def test_every_problem_of_a_body_is_listed():
    settings, problems = validate_cluster_update({"node-timeout": "99999999999999999999h", "heartbeat-interval": "5ms",
                                                  "set-leader-timeout": "1h", "autoremove-minimum": 1001})
    assert settings is None
    assert problems == [
        "node-timeout: '99999999999999999999h' is out of range 100ms..1m",
        "heartbeat-interval: '5ms' is out of range 10ms..1m",
        "set-leader-timeout: '1h' is out of range 1s..10m",
        "autoremove-minimum: 1001 is out of range 0..1000",
    ]


def test_a_huge_number_is_refused_quickly_and_quoted_short():
    value = "9" * 100_000 + "h"
    settings, problems = validate_cluster_update({"node-timeout": value})
    assert settings is None
    assert problems == ["node-timeout: '" + "9" * 39 + "... (100003 characters) is out of range 100ms..1m"]


def test_the_seed_values_are_accepted():
    seed = parse_config(yaml.safe_load(SEED_CONFIG_YAML))
    assert seed.cluster.node_timeout == 30.0 and seed.cluster.set_leader_timeout == 30.0
    settings, problems = validate_cluster_update(SEED_CONFIG_POST_BODY, base=seed.cluster)
    assert problems == [] and settings.node_timeout == 5.0


# (tick-interval, node-timeout, problem or None); heartbeat-interval set to the tick (>= 10ms).
TICK_CASES = [
    ("10ms", "100ms", None),
    ("50ms", "200ms", None),
    ("50ms", "199ms", "cluster.node-timeout: '199ms' is out of range 200ms..1m at tick-interval '50ms' "
                      "(4..100000 ticks)"),
    ("200ms", "800ms", None),
    ("1s", "4s", None),
    ("1s", "3s", "cluster.node-timeout: '3s' is out of range 4s..1m at tick-interval '1s' (4..100000 ticks)"),
    ("10ms", "1m", None),
]


@pytest.mark.parametrize("tick, node_timeout, problem", TICK_CASES)
def test_node_timeout_lasts_at_least_four_ticks(tick, node_timeout, problem):
    document = {"ip": "10.0.0.1", "tick-interval": tick,
                "cluster": {"node-timeout": node_timeout, "heartbeat-interval": tick}}
    if problem is None:
        parse_config(document)
    else:
        with pytest.raises(ConfigError) as error:
            parse_config(document)
        assert error.value.problems == [problem]


def test_post_config_checks_the_ticks_when_given_the_nodes_tick_interval():
    assert validate_cluster_update({"node-timeout": "150ms"}, tick_interval=0.05) == (
        None, ["node-timeout: '150ms' is out of range 200ms..1m at tick-interval '50ms' (4..100000 ticks)"])
    settings, problems = validate_cluster_update({"node-timeout": "200ms"}, tick_interval=0.05)
    assert problems == [] and settings.node_timeout == 0.2
    # Without it (a committed entry applied on every node) only the key ranges count.
    assert validate_cluster_update({"node-timeout": "150ms"})[1] == []


def test_the_tick_bounds_cannot_be_reached_with_todays_ranges():
    assert MIN_ELECTION_TICKS == 4
    tick, node_timeout = KEYS_BY_PATH["tick-interval"].parse, KEYS_BY_PATH["cluster.node-timeout"].parse
    # The upper bound cannot be reached with today's ranges: it guards a future widening.
    assert node_timeout.maximum / tick.minimum <= MAX_ELECTION_TICKS
    assert tick_problems({"cluster.node-timeout": 60.0}, 0.001, prefix="") == []
    assert "(4..100000 ticks)" in tick_problems({"cluster.node-timeout": 60.0}, 0.0005, prefix="")[0]
