"""A switchover's pause on the pooler hosts: the leader's side and the observer's.

A pooler host's HAProxy sync pauses PgBouncer's transaction-pooled databases when the map
announces a switchover (PAUSE returns once their transactions in flight have committed), and
says so in a small file its observer agent reads into its beacon. The leader demotes only once
every such observer announces that hold, so no transaction of those clients is cut by the
demote: they wait, and run on the new leader once the sync has resumed them. The wait is
bounded: a pooler host that does not answer costs a switchover at most POOLER_HOLD_WAIT.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from .beacon import Beacon

# Seconds the leader waits for the pooler hosts once nothing else keeps it from demoting.
POOLER_HOLD_WAIT = 2.0
# The hold file holds one small JSON object; anything longer is not one.
_MAX_HOLD_FILE = 256


def read_hold_file(path: str) -> int | None:
    """The member id the pooler's clients are held for, None when not held: no file, or one
    that is not {"held_for": <id>} (the sync writes it; an unreadable one holds nothing)."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(_MAX_HOLD_FILE + 1)
    except OSError:
        return None
    if len(data) > _MAX_HOLD_FILE:
        return None
    try:
        held_for = json.loads(data).get("held_for")
    except (ValueError, AttributeError):
        return None
    return held_for if isinstance(held_for, int) and not isinstance(held_for, bool) and held_for > 0 else None


def waiting_for_poolers(target: int, beacons: Mapping[int, Beacon]) -> list[str]:
    """The names of the pooler hosts heard recently that do not hold their clients for `target` yet."""
    return sorted(b.name for b in beacons.values()
                  if b.observer and b.holds_pooler and b.pooler_held_for != target)
