"""A replica keeps reporting the newest timeline it received WAL on while its walreceiver is down."""

from __future__ import annotations

from qluster_agent.pg.timeline import ReplicaTimeline


def test_the_restartpoints_older_timeline_does_not_replace_the_receivers() -> None:
    tracker = ReplicaTimeline()
    assert tracker.observe(5) == 5  # the walreceiver streams on timeline 5
    assert tracker.observe(4) == 5  # it died; SQL now only knows the last restartpoint's timeline
    assert tracker.observe(6) == 6  # it follows a promoted leader onto timeline 6


def test_nothing_known_stays_unknown_until_a_timeline_is_read() -> None:
    tracker = ReplicaTimeline()
    assert tracker.observe(None) is None
    assert tracker.observe(3) == 3
    assert tracker.observe(None) == 3


def test_a_stopped_or_promoted_server_starts_afresh() -> None:
    tracker = ReplicaTimeline()
    tracker.observe(7)
    tracker.reset()
    assert tracker.observe(2) == 2
