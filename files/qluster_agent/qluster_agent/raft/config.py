"""Timing and policy parameters of the consensus core, all time values in ticks.

The runtime turns the seed's durations into ticks (duration / tick interval).  The core never
sees seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class CoreConfig:
    node_id: int
    # A follower that has not heard from a leader for its election timeout starts a pre-vote.
    # The timeout is drawn uniformly from [election_ticks, 2 * election_ticks - 1] after every
    # reset, so that two followers rarely start together (seed: node-timeout).
    election_ticks: int = 10
    # Leader sends heartbeats this often (seed: heartbeat-interval).
    heartbeat_ticks: int = 1
    # How long a pre-vote / vote round may last before the node starts a new pre-vote round
    # (seed: pre-voting-timeout / leader-voting-timeout).  Randomised like the election timeout.
    prevote_ticks: int = 10
    vote_ticks: int = 10
    # A leader steps down when it has not heard from a quorum of voters for lease_ticks.  It is
    # strictly shorter than election_ticks, so an isolated leader has stepped down (and the DB layer
    # has fenced writes) before any follower can even start a pre-vote.
    lease_ticks: int = 8
    # A follower that did not acknowledge an append/snapshot within this long is re-sent the data
    # (seed: replication-retry-interval).
    replication_retry_ticks: int = 3
    # Autoremove: the leader proposes removing a member it has not heard from for remove_ticks
    # (seed: remove-interval), if autoremove_enabled and the number of voters stays >=
    # autoremove_minimum.  Observers are removed without the minimum check: they do not count
    # towards any quorum.
    autoremove_enabled: bool = False
    autoremove_minimum: int = 3
    remove_ticks: int = 600
    # Leadership transfer is aborted when the target has not taken over within this long
    # (seed: set-leader-timeout).
    transfer_ticks: int = 30
    # Soft limits of one App message; the transport fragments larger datagrams, so one entry
    # bigger than the limit is still sent (alone).
    max_entries_per_msg: int = 64
    max_bytes_per_msg: int = 60000
    # The leader refuses proposals when this many entries are not yet committed, which bounds
    # the uncommitted tail of every log.
    max_uncommitted_entries: int = 1024
    # After this many applied entries past the last snapshot the node asks the snapshot source
    # for the state and compacts its log.  Log bound: at most snapshot_threshold applied entries
    # plus the not-yet-applied tail (<= max_uncommitted_entries plus committed-not-applied).
    snapshot_threshold: int = 1000
    # Commit rule: an entry commits when a majority of voters (leader included) have it; with
    # replication_factor = k > 0 it needs the leader plus k other voters (capped at all voters).
    # The stricter of the two always applies: committing on fewer than a majority would let an
    # election lose the entry, so replication_factor can only raise the bar.
    quorum_replication: bool = True
    replication_factor: int = 0
    # This node is an observer (the pooler host): it never campaigns and never grants votes,
    # even if it was wrongly added as a voter.
    observer: bool = False

    def __post_init__(self) -> None:
        if self.node_id <= 0:
            raise ValueError(f"node_id must be a positive int, got {self.node_id}")
        for name in ("election_ticks", "heartbeat_ticks", "prevote_ticks", "vote_ticks", "lease_ticks",
                     "replication_retry_ticks", "remove_ticks", "transfer_ticks", "max_entries_per_msg",
                     "max_bytes_per_msg", "max_uncommitted_entries", "snapshot_threshold"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        # The core's own invariants, in ticks. The agent never reaches them: config/heartbeat.py
        # turns an accepted heartbeat-interval into ticks within them (a test sweeps its range);
        # they guard callers that set ticks by hand (tests, the simulator).
        if self.heartbeat_ticks >= self.election_ticks:
            raise ValueError(f"heartbeat_ticks ({self.heartbeat_ticks}) must be < election_ticks "
                             f"({self.election_ticks})")
        if self.heartbeat_ticks >= self.lease_ticks:
            raise ValueError(f"heartbeat_ticks ({self.heartbeat_ticks}) must be < lease_ticks "
                             f"({self.lease_ticks}) or a healthy leader would lose its lease between beats")
        if self.lease_ticks >= self.election_ticks:
            raise ValueError(f"lease_ticks ({self.lease_ticks}) must be < election_ticks "
                             f"({self.election_ticks}) so an isolated leader steps down first")
        if self.replication_factor < 0 or self.autoremove_minimum < 1:
            raise ValueError("replication_factor must be >= 0 and autoremove_minimum >= 1")
        if not self.quorum_replication and self.replication_factor == 0:
            raise ValueError("quorum_replication is false and replication_factor is 0: no commit rule")

    def timing(self) -> tuple:
        """The settings whose change must spread before the leader acts on it."""
        return (self.election_ticks, self.heartbeat_ticks, self.lease_ticks)

    def while_changing_to(self, new: "CoreConfig", previous: "CoreConfig | None" = None) -> "CoreConfig":
        """The timing in force (this config) while a change from `previous` (the last change's
        target; this config when none is under way) to `new` reaches every voter.

        Each node applies a timing change when it learns the commit, so for a while some
        voters run the old timing and some the new one. Stable: a follower waits the longer of
        the two election timeouts and the leader beats at the shorter of its interval now and
        the new one, so no follower times out on a leader that slowed its heartbeat before the
        follower knew. Safe: the leader keeps the lease it has (or the previous change's, if
        shorter), which is shorter than every follower's timeout whether the follower has
        applied the change (the longer timeout) or not (the old one). A shorter new lease at
        once would end a healthy leader's lease before the faster beat is answered; a longer one
        would outlast a follower still on the old, shorter timeout. Only the last two targets
        count: a node replaying a hundred changes is not held to the longest of them all.
        """
        previous = previous or self
        return replace(new, election_ticks=max(previous.election_ticks, new.election_ticks),
                       heartbeat_ticks=min(self.heartbeat_ticks, new.heartbeat_ticks),
                       lease_ticks=min(self.lease_ticks, previous.lease_ticks))

    def change_ticks(self, new: "CoreConfig") -> int:
        """How long the blended timing holds: two of the longer election timeouts, within
        which every voter that answers the leader has heard the commit and applied it too."""
        return 2 * max(self.election_ticks, new.election_ticks)
