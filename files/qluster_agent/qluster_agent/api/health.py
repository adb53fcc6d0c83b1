"""Health endpoints with the status-code contract routers already use with Patroni.

HAProxy (and similar) send GET/HEAD/OPTIONS and only look at 200 vs 503, so each endpoint is a
yes/no question about this node, answered from one immutable snapshot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeHealth:
    """What the health endpoints need to know about this node, taken at one instant."""

    agent_alive: bool  # the HA loop completed a cycle recently
    pg_running: bool
    is_leader: bool  # consensus leader holding its lease
    in_recovery: bool  # the database runs as a standby
    writable: bool  # leader, database primary and not fenced: the only node taking writes
    streaming: bool  # standby whose WAL receiver is streaming from the leader
    lag_bytes: int | None  # standby: bytes behind the leader's current WAL position; None unknown
    observer: bool = False  # the pooler host's agent: no database at all
    node_id: int = 0  # this node's member id (its row in /map)


class LagError(ValueError):
    pass


_UNITS = {"": 1, "b": 1, "kb": 1024, "kib": 1024, "mb": 1024**2, "mib": 1024**2,
          "gb": 1024**3, "gib": 1024**3, "tb": 1024**4, "tib": 1024**4}
_LAG = re.compile(r"^\s*(\d+)\s*([a-zA-Z]*)\s*$")


def parse_lag(text: str) -> int:
    """`?lag=` as bytes: `1048576`, `16MB`, `16MiB`, `1GB` (units are powers of 1024, as in PostgreSQL)."""
    match = _LAG.match(text)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise LagError(f"lag {text!r} is not a size (use bytes or e.g. 16MB, 1GB)")
    return int(match.group(1)) * _UNITS[unit]


def is_primary(h: NodeHealth) -> bool:
    return h.writable


def is_replica(h: NodeHealth, max_lag: int | None = None) -> bool:
    if not (h.pg_running and h.in_recovery and not h.is_leader):
        return False
    if max_lag is None:
        return True
    # An unknown lag is not a small lag: a replica cut off from the leader cannot tell.
    return h.lag_bytes is not None and h.lag_bytes <= max_lag


def is_read_only(h: NodeHealth, max_lag: int | None = None) -> bool:
    return is_primary(h) or is_replica(h, max_lag)


def is_healthy(h: NodeHealth) -> bool:
    return h.pg_running


def is_live(h: NodeHealth) -> bool:
    return h.agent_alive


def is_ready(h: NodeHealth) -> bool:
    return is_primary(h) or (is_replica(h) and h.streaming)


# path -> (question, takes ?lag)
CHECKS = {
    "/primary": (lambda h, lag: is_primary(h), False),
    "/leader": (lambda h, lag: is_primary(h), False),
    "/read-write": (lambda h, lag: is_primary(h), False),
    "/master": (lambda h, lag: is_primary(h), False),
    "/replica": (is_replica, True),
    "/read-only": (is_read_only, True),
    "/health": (lambda h, lag: is_healthy(h), False),
    "/liveness": (lambda h, lag: is_live(h), False),
    "/readiness": (lambda h, lag: is_ready(h), False),
}


def check(path: str, health: NodeHealth, lag: str | None) -> bool:
    """True (200) or False (503) for a health path; raises LagError for a bad ?lag= value."""
    question, takes_lag = CHECKS[path]
    max_lag = parse_lag(lag) if (lag is not None and takes_lag) else None
    return question(health, max_lag)
