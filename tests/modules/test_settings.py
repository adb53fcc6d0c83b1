"""qluster_config's planning: the local key table agrees with the agent's, values are validated
the way the agent validates them, and only differing keys are planned."""

from __future__ import annotations

import pytest

from ansible_collections.qhb.qluster.plugins.module_utils import qluster_settings as s
from qluster_agent.config.checks import cluster_problems
from qluster_agent.config.durations import format_duration, parse_duration
from qluster_agent.config.heartbeat import heartbeat_problem
from qluster_agent.config.keys import KEYS, RUNTIME_KEYS
from qluster_agent.config.runtime import validate_cluster_update

AGENT = {spec.name: spec for spec in RUNTIME_KEYS}
KIND = {"duration": s.DURATION, "boolean": s.BOOLEAN, "integer": s.INTEGER}


def agent_accepts(name, value):
    try:
        AGENT[name].parse(value)
    except ValueError:
        return False
    return True


def module_accepts(name, value):
    try:
        s.normalize_value(name, value)
    except ValueError:
        return False
    return True


def test_same_keys_and_kinds_as_the_agent():
    assert set(s.SETTINGS) == set(AGENT)
    for name, (kind, _bounds) in s.SETTINGS.items():
        assert KIND[AGENT[name].kind] == kind, name


def test_integer_bounds_match_the_agent():
    for name, (kind, bounds) in s.SETTINGS.items():
        if kind != s.INTEGER:
            continue
        low, high = bounds
        for value in (low, high, low - 1, high + 1):
            assert module_accepts(name, value) == agent_accepts(name, value), (name, value)


def test_ranges_match_the_agent():
    for name, (kind, bounds) in s.SETTINGS.items():
        parse = AGENT[name].parse
        if kind == s.BOOLEAN:
            assert bounds is None and AGENT[name].range_text is None, name
            continue
        scale = 1000 if kind == s.DURATION else 1
        assert bounds == (round(parse.minimum * scale), round(parse.maximum * scale)), name
        assert s.range_text(name) == AGENT[name].range_text, name


def edges(name):
    """Both ends of a key's range, one step beyond each, and a number too long for any range."""
    kind, (low, high) = s.SETTINGS[name]
    if kind == s.INTEGER:
        return [low, high, low - 1, high + 1, 10 ** 30]
    return [s.format_ms(low), s.format_ms(high), "%dms" % (low - 1), "%dms" % (high + 1),
            "99999999999999999999h", "9" * 5000 + "s", "000000000000000000000001m", "1.000000000000000000000s"]


def agent_message(name, value):
    try:
        AGENT[name].parse(value)
    except ValueError as exc:
        return "%s: %s" % (name, exc)
    return None


@pytest.mark.parametrize("name", [n for n, (kind, bounds) in s.SETTINGS.items() if bounds], ids=str)
def test_out_of_range_values_are_refused_with_the_agents_message(name):
    for value in edges(name):
        settings, problems = s.validate_settings({name: value})
        expected = agent_message(name, value)
        assert problems == ([expected] if expected else []), (name, value)
        assert (settings == {}) == bool(expected), (name, value)
    low, high = s.SETTINGS[name][1]
    below = low - 1 if s.SETTINGS[name][0] == s.INTEGER else "%dms" % (low - 1)
    assert s.validate_settings({name: below})[1] == ["%s: %r is out of range %s" % (name, below, s.range_text(name))]


def test_not_runtime_keys_are_the_agents_other_keys():
    others = {spec.name for spec in KEYS if not spec.runtime}
    assert others <= set(s.NOT_RUNTIME) | {"group", "interface", "pacing-rate", "loopback",
                                           "send-buffer-size", "recv-buffer-size",
                                           "send-buffer-capacity", "recv-buffer-capacity"}


SAMPLES = ["5s", "500ms", "1m", "1h", "1.5s", "0.5ms", "0ms", "0s", "5", 5, 5.0, "5 s", " 5s ", "5sec",
           "-1s", "", None, True, False, 0, 1, 1000, 1001, -1, [], {}, "1.0001s", "2.5m"]


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_values_accepted_exactly_when_the_agent_accepts_them(value):
    for name in s.SETTINGS:
        if isinstance(value, str) and s.SETTINGS[name][0] != s.DURATION:
            continue  # strings for integers and booleans: the module's own coercion, tested below
        assert module_accepts(name, value) == agent_accepts(name, value), (name, value)


@pytest.mark.parametrize("text", ["5s", "5000ms", "1.5s", "90s", "60000ms", "2h", "120m", "1ms", "0.25s"])
def test_durations_render_as_the_agent_renders_them(text):
    # The parsers alone: some of these values are outside every key's range.
    assert s.format_ms(s.duration_ms(text)) == format_duration(parse_duration(text))


def test_ansible_style_strings_for_booleans_and_integers():
    assert s.normalize_value("quorum-replication", "yes") is True
    assert s.normalize_value("autoremove-enabled", "False") is False
    assert s.normalize_value("replication-factor", "2") == 2
    with pytest.raises(ValueError, match="'maybe' is not a boolean"):
        s.normalize_value("quorum-replication", "maybe")
    with pytest.raises(ValueError, match="'two' is not an integer"):
        s.normalize_value("replication-factor", "two")


def test_validate_names_every_problem_and_keeps_nothing_half_valid():
    settings, problems = s.validate_settings({"node-timout": "5s", "heartbeat-interval": 5,
                                              "tick-interval": "10ms", "replication-factor": 2})
    assert settings == {"replication-factor": 2}
    text = "\n".join(problems)
    assert "node-timout: unknown key (did you mean node-timeout?)" in text
    assert "heartbeat-interval: 5 has no unit" in text
    assert "tick-interval: not changeable at runtime" in text
    assert len(problems) == 3


def test_key_spellings():
    settings, problems = s.validate_settings({"node_timeout": "5000ms", "cluster.heartbeat-interval": "1s"})
    assert problems == []
    assert settings == {"node-timeout": "5s", "heartbeat-interval": "1s"}
    settings, problems = s.validate_settings({"node_timeout": "5s", "node-timeout": "6s"})
    assert problems and "given twice" in problems[0]


CROSS_CASES = [
    {"heartbeat-interval": "5s", "node-timeout": "5s"},
    {"heartbeat-interval": "6s", "node-timeout": "5s"},
    {"quorum-replication": False, "replication-factor": 0},
    {"quorum-replication": False, "replication-factor": 1},
    {"quorum-replication": True, "replication-factor": 0},
]


@pytest.mark.parametrize("body", CROSS_CASES, ids=repr)
def test_cross_checks_agree_with_the_agent(body):
    defaults = s.normalize_current({n: format_duration(spec.default) if spec.kind == "duration" else spec.default
                                    for n, spec in AGENT.items()})
    merged = dict(defaults, **body)
    agent_settings, agent_problems = validate_cluster_update(body)
    assert bool(s.cross_problems(merged)) == bool(agent_problems), (s.cross_problems(merged), agent_problems)
    values = {"cluster." + name: AGENT[name].parse(value) for name, value in merged.items()}
    assert bool(cluster_problems(values, prefix="")) == bool(s.cross_problems(merged))
    assert (agent_settings is None) == bool(agent_problems)


HEARTBEATS = ["10ms", "50ms", "100ms", "1500ms", "5s", "6s", "1m"]


@pytest.mark.parametrize("node_timeout", ["100ms", "800ms", "5s", "1m"])
def test_the_heartbeat_rule_says_what_the_agents_says(node_timeout):
    """Word for word, without a tick-interval (the node that takes the request adds the lower end)."""
    for heartbeat in HEARTBEATS:
        mine = s.heartbeat_problem(s.normalize_value("heartbeat-interval", heartbeat),
                                   s.normalize_value("node-timeout", node_timeout))
        assert mine == heartbeat_problem(parse_duration(heartbeat), parse_duration(node_timeout), prefix=""), heartbeat


def test_plan_sends_only_what_differs():
    current = s.normalize_current({"node-timeout": "5s", "heartbeat-interval": "1s", "quorum-replication": True})
    desired, problems = s.validate_settings({"node-timeout": "5000ms", "heartbeat-interval": "500ms",
                                             "quorum-replication": "true"})
    assert problems == []
    changes, before, after = s.plan_config(current, desired)
    assert changes == {"heartbeat-interval": "500ms"}
    assert before["heartbeat-interval"] == "1s"
    assert after == {"node-timeout": "5s", "heartbeat-interval": "500ms", "quorum-replication": True}


def test_plan_with_nothing_to_change():
    current = {"node-timeout": "5s"}
    assert s.plan_config(current, {"node-timeout": "5s"})[0] == {}
