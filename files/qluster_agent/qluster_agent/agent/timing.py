"""From the seed's durations to the consensus core's ticks (the core never sees seconds)."""

from __future__ import annotations

from ..config.heartbeat import election_ticks, heartbeat_ticks, lease_ticks, ticks
from ..config.model import ClusterSettings
from ..raft.config import CoreConfig

# The HA loop's glance at its database between full cycles (agent/wake.py), as a share of
# node-timeout, within bounds. A glance keeps the WAL position a node campaigns with current;
# the shortest election timeout is node-timeout, so a glance every third of it has read a dead
# leader's last WAL well before any follower's pre-vote (and a node answering a vote reads its
# position then anyway: runtime.py). Each glance is one statement on the database: at the
# default 800 ms about four a second instead of ten, which was most of an idle node's cost.
GLANCE_SHARE = 1 / 3
GLANCE_BOUNDS = (0.1, 0.5)


def core_config(node_id: int, settings: ClusterSettings, tick_interval: float, observer: bool) -> CoreConfig:
    """Election, lease and heartbeat follow config/heartbeat.py, the rule config.yaml and
    POST /config are checked with."""
    election = election_ticks(settings.node_timeout, tick_interval)
    return CoreConfig(
        node_id=node_id,
        election_ticks=election,
        heartbeat_ticks=heartbeat_ticks(settings.heartbeat_interval, settings.node_timeout, tick_interval),
        prevote_ticks=ticks(settings.pre_voting_timeout, tick_interval),
        vote_ticks=ticks(settings.leader_voting_timeout, tick_interval),
        lease_ticks=lease_ticks(election),
        replication_retry_ticks=ticks(settings.replication_retry_interval, tick_interval),
        autoremove_enabled=settings.autoremove_enabled,
        autoremove_minimum=max(1, settings.autoremove_minimum),
        remove_ticks=ticks(settings.remove_interval, tick_interval),
        transfer_ticks=ticks(settings.set_leader_timeout, tick_interval),
        quorum_replication=settings.quorum_replication,
        replication_factor=settings.replication_factor,
        observer=observer,
    )


def glance_interval(settings: ClusterSettings) -> float:
    """Seconds between the HA loop's glances at its database (GLANCE_SHARE of node-timeout)."""
    low, high = GLANCE_BOUNDS
    return min(high, max(low, settings.node_timeout * GLANCE_SHARE))
