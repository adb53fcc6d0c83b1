"""From the seed's durations to the consensus core's ticks (the core never sees seconds)."""

from __future__ import annotations

import math

from ..config.model import ClusterSettings
from ..raft.config import CoreConfig

# The leader's lease as a share of the election timeout. What is left is the window in which an
# isolated leader has already stepped down (and fenced its database) while no follower may yet
# start an election: with the default 800 ms node-timeout, 500 ms of lease and 300 ms of margin.
# A leader whose host freezes survives a freeze of up to a lease less one heartbeat interval (the
# answers it holds are as old as its last beat): 400 ms at the defaults. 0.6 gave 450 ms, and a
# 0.37 s freeze of the lab's leader (bench/stability.py e, run 5) ended its lease.
LEASE_SHARE = 0.625
MIN_ELECTION_TICKS = 4
# The leader beats at least this many times per lease, whatever heartbeat-interval says: a lease
# that one late answer can end turns every scheduling hiccup into a failover. Seed 000 §10.5
# posts heartbeat-interval equal to node-timeout (5 s); it becomes 750 ms, a quarter of the 3 s
# lease (etcd recommends a heartbeat of a tenth of the election timeout; this is about a seventh).
BEATS_PER_LEASE = 4
# The HA loop's glance at its database between full cycles (agent/node.py), as a share of
# node-timeout, within bounds. A glance keeps the WAL position a node campaigns with current;
# the shortest election timeout is node-timeout, so a glance every third of it has read a dead
# leader's last WAL well before any follower's pre-vote (and a node answering a vote reads its
# position then anyway: runtime.py). Each glance is one statement on the database: at the
# default 800 ms about four a second instead of ten, which was most of an idle node's cost.
GLANCE_SHARE = 1 / 3
GLANCE_BOUNDS = (0.1, 0.5)


def ticks(seconds: float, tick_interval: float) -> int:
    return max(1, round(seconds / tick_interval))


def core_config(node_id: int, settings: ClusterSettings, tick_interval: float, observer: bool) -> CoreConfig:
    election = max(MIN_ELECTION_TICKS, ticks(settings.node_timeout, tick_interval))
    lease = min(election - 1, max(2, math.floor(election * LEASE_SHARE)))
    heartbeat = min(ticks(settings.heartbeat_interval, tick_interval), max_heartbeat_ticks(lease))
    return CoreConfig(
        node_id=node_id,
        election_ticks=election,
        heartbeat_ticks=heartbeat,
        prevote_ticks=ticks(settings.pre_voting_timeout, tick_interval),
        vote_ticks=ticks(settings.leader_voting_timeout, tick_interval),
        lease_ticks=lease,
        replication_retry_ticks=ticks(settings.replication_retry_interval, tick_interval),
        autoremove_enabled=settings.autoremove_enabled,
        autoremove_minimum=max(1, settings.autoremove_minimum),
        remove_ticks=ticks(settings.remove_interval, tick_interval),
        transfer_ticks=ticks(settings.set_leader_timeout, tick_interval),
        quorum_replication=settings.quorum_replication,
        replication_factor=settings.replication_factor,
        observer=observer,
    )


def max_heartbeat_ticks(lease_ticks: int) -> int:
    """The longest heartbeat interval that still leaves BEATS_PER_LEASE beats in a lease."""
    return max(1, lease_ticks // BEATS_PER_LEASE)


def glance_interval(settings: ClusterSettings) -> float:
    """Seconds between the HA loop's glances at its database (GLANCE_SHARE of node-timeout)."""
    low, high = GLANCE_BOUNDS
    return min(high, max(low, settings.node_timeout * GLANCE_SHARE))
