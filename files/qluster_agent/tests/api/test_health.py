"""Which node answers 200 on which health endpoint: the table HAProxy's routing relies on."""

from __future__ import annotations

import pytest

from qluster_agent.api.health import LagError, check, parse_lag

from .fakes import LEADER, REPLICA, with_

FENCED_LEADER = with_(LEADER, writable=False)
STOPPED = with_(REPLICA, pg_running=False, streaming=False)
LAGGING = with_(REPLICA, lag_bytes=64 * 1024 * 1024)
CUT_OFF = with_(REPLICA, streaming=False, lag_bytes=None)
DEAD_LOOP = with_(REPLICA, agent_alive=False)


@pytest.mark.parametrize("path,health,lag,expected", [
    ("/primary", LEADER, None, True),
    ("/leader", LEADER, None, True),
    ("/read-write", LEADER, None, True),
    ("/primary", FENCED_LEADER, None, False),  # lost its lease: must leave the write pool at once
    ("/primary", REPLICA, None, False),
    ("/replica", REPLICA, None, True),
    ("/replica", LEADER, None, False),
    ("/replica", STOPPED, None, False),
    ("/replica", REPLICA, "16MB", True),
    ("/replica", LAGGING, "16MB", False),
    ("/replica", LAGGING, "1GB", True),
    ("/replica", CUT_OFF, "16MB", False),  # unknown lag is not small lag
    ("/read-only", LEADER, None, True),
    ("/read-only", REPLICA, None, True),
    ("/read-only", STOPPED, None, False),
    ("/health", REPLICA, None, True),
    ("/health", STOPPED, None, False),
    ("/liveness", STOPPED, None, True),
    ("/liveness", DEAD_LOOP, None, False),
    ("/readiness", LEADER, None, True),
    ("/readiness", REPLICA, None, True),
    ("/readiness", CUT_OFF, None, False),
    ("/readiness", FENCED_LEADER, None, False),
])
def test_health_table(path, health, lag, expected):
    assert check(path, health, lag) is expected


@pytest.mark.parametrize("text,expected", [
    ("0", 0), ("1048576", 1048576), ("16MB", 16 << 20), ("16MiB", 16 << 20), ("1 GB", 1 << 30),
    ("8kB", 8192), ("2TB", 2 << 40),
])
def test_parse_lag(text, expected):
    assert parse_lag(text) == expected


@pytest.mark.parametrize("text", ["", "-1", "16XB", "1.5MB", "MB"])
def test_parse_lag_rejects_what_is_not_a_size(text):
    with pytest.raises(LagError, match="is not a size"):
        parse_lag(text)
