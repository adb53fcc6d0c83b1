"""Seed 001's fault must not return: an ongoing problem writes a bounded number of log lines."""

from __future__ import annotations

import pytest

from qluster_agent.pooler.ratelimit import Backoff, RateLimitedLog


def make():
    lines = []
    return RateLimitedLog(lambda level, message: lines.append((level, message)), repeat_after=60), lines


def test_a_problem_is_logged_when_it_starts_and_at_most_once_a_minute_after():
    limited, lines = make()
    for second in range(0, 600):  # ten minutes of a retry every second
        limited.problem("map", "refused", f"cannot read the map (attempt at {second})", now=float(second))
    assert len(lines) == 10
    assert lines[0] == ("warning", "cannot read the map (attempt at 0)")
    assert lines[1] == ("warning", "cannot read the map (attempt at 60) (still, for 60 s; 59 repeats not logged)")


def test_a_different_problem_is_logged_at_once_and_its_end_once():
    limited, lines = make()
    limited.problem("map", "refused", "refused", now=0)
    limited.problem("map", "refused", "refused", now=1)
    limited.problem("map", "timeout", "timed out", now=2)
    assert [message for level, message in lines] == ["refused", "timed out"]
    assert limited.resolved("map", "answers again", now=12)
    assert not limited.resolved("map", "answers again", now=13)
    assert lines[-1] == ("info", "answers again (after 10 s)")
    assert not limited.active("map")


def test_topics_are_independent():
    limited, lines = make()
    limited.problem("a", "x", "a broke", now=0)
    limited.problem("b", "x", "b broke", now=0)
    limited.problem("a", "x", "a broke", now=1)
    assert [message for level, message in lines] == ["a broke", "b broke"]


def test_backoff_doubles_up_to_its_ceiling_and_resets_on_success():
    backoff = Backoff(1.0, 30.0)
    assert [backoff.failure() for attempt in range(7)] == [2, 4, 8, 16, 30, 30, 30]
    assert backoff.success() == 1.0
    assert backoff.failure() == 2
    with pytest.raises(ValueError):
        Backoff(0, 1)
