"""Which standbys must confirm a commit, from cluster membership (pure).

With quorum replication a commit is acknowledged only when a majority of the voting database
nodes, the leader included, have flushed it: k = quorum - 1 = floor(voters / 2) other voters.
Any majority that elects the next leader then overlaps the one that holds the commit, and the
vote restriction by WAL position makes the winner one that has it.

replication-factor R > 0 (seed 001: "how many replicas must receive an entry before it commits")
asks for exactly R other voters instead. k is capped at the number of standbys there are: PostgreSQL
would wait forever for standbys that do not exist; rejecting R larger than the cluster is the
config validator's job.

Only voters are listed: the observer (pooler host) has no database. Quorum replication off
gives '' (asynchronous: a failover can lose the last commits).
"""

from __future__ import annotations

from ..pg.conninfo import application_name_for
from ..pg.sync import ASYNCHRONOUS, SyncStandbys
from .view import ClusterView, MemberRole


def desired_sync_standbys(view: ClusterView) -> SyncStandbys:
    if not view.quorum_replication:
        return ASYNCHRONOUS
    others = sorted(m.id for m in view.members if m.role is MemberRole.VOTER and m.id != view.my_id)
    voters = len(others) + 1
    k = view.replication_factor if view.replication_factor > 0 else voters // 2
    k = min(k, len(others))
    if k == 0:
        return ASYNCHRONOUS
    return SyncStandbys(k, tuple(application_name_for(i) for i in others))
