"""The one rule between heartbeat-interval, node-timeout and tick-interval, in seconds and in ticks.

Accepted: tick-interval <= heartbeat-interval <= node-timeout. Equal ends are allowed because
seed 000 §10.5 posts heartbeat-interval = node-timeout = 5s; a heartbeat slower than the timeout
would make every follower call elections forever, and one shorter than a tick cannot be kept.

Kept: the leader beats at least BEATS_PER_LEASE times per lease, whatever the key says, because
a lease that one late answer can end turns every scheduling hiccup into a failover. The seed's
5 s beat becomes 750 ms, a quarter of the 3 s lease (etcd recommends a tenth of the election
timeout; this is about a seventh). So an accepted value is never refused by the consensus core
(raft/config.py CoreConfig: heartbeat < lease < election, in ticks), whose own check guards
callers that build ticks by hand (tests, the simulator).

Every caller asks here: config.yaml and POST /config (checks.py), the ticks the core runs on
(agent/timing.py core_config), and the collection's mirror (plugins/module_utils/
qluster_settings.py, tested against heartbeat_problem).
"""

from __future__ import annotations

import math

from .durations import format_duration

# The consensus core's shortest election, in ticks: a shorter node-timeout would be stretched to
# it silently, so config refuses one (checks.py tick_problems).
MIN_ELECTION_TICKS = 4
# The leader's lease as a share of the election timeout. What is left is the window in which an
# isolated leader has already stepped down (and fenced its database) while no follower may yet
# start an election: with the default 800 ms node-timeout, 500 ms of lease and 300 ms of margin.
# A leader whose host freezes survives a freeze of up to a lease less one heartbeat interval (the
# answers it holds are as old as its last beat): 400 ms at the defaults. 0.6 gave 450 ms, and a
# 0.37 s freeze of the lab's leader (bench/stability.py e, run 5) ended its lease.
LEASE_SHARE = 0.625
BEATS_PER_LEASE = 4
# heartbeat-interval's own lower end (keys.py; a test keeps them equal: keys.py builds its
# parsers from values.py and this module stays free of the key table).
HEARTBEAT_MINIMUM = 0.01


def ticks(seconds: float, tick_interval: float) -> int:
    return max(1, round(seconds / tick_interval))


def election_ticks(node_timeout: float, tick_interval: float) -> int:
    return max(MIN_ELECTION_TICKS, ticks(node_timeout, tick_interval))


def lease_ticks(election: int) -> int:
    return min(election - 1, max(2, math.floor(election * LEASE_SHARE)))


def heartbeat_ticks(heartbeat: float, node_timeout: float, tick_interval: float) -> int:
    """The beat the leader keeps: heartbeat-interval, or BEATS_PER_LEASE beats a lease if shorter."""
    lease = lease_ticks(election_ticks(node_timeout, tick_interval))
    return min(ticks(heartbeat, tick_interval), max(1, lease // BEATS_PER_LEASE))


def heartbeat_range(node_timeout: float, tick_interval: float | None = None) -> tuple[float, float]:
    """The heartbeat-interval accepted beside this node-timeout (and tick-interval, when known)."""
    return max(HEARTBEAT_MINIMUM, tick_interval or 0.0), node_timeout


def heartbeat_problem(heartbeat: float | None, node_timeout: float | None, tick_interval: float | None = None,
                      prefix: str = "cluster.") -> str | None:
    """The problem line when heartbeat-interval is outside heartbeat_range, else None.

    None as well when the range is empty (a tick longer than node-timeout): node-timeout's own
    problem (at least MIN_ELECTION_TICKS ticks) names the fix then.
    """
    if heartbeat is None or node_timeout is None:
        return None
    low, high = heartbeat_range(node_timeout, tick_interval)
    if low > high or low <= heartbeat <= high:
        return None
    bounds = f"{prefix}node-timeout {format_duration(node_timeout)!r}"
    if tick_interval is not None:
        bounds += f" and tick-interval {format_duration(tick_interval)!r}"
    return (f"{prefix}heartbeat-interval: {format_duration(heartbeat)!r} is out of range "
            f"{format_duration(low)}..{format_duration(high)} at {bounds}")
