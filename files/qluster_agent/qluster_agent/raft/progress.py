"""What the leader knows about each follower's log, and how it decides what to send next."""
from __future__ import annotations

import enum
from dataclasses import dataclass


class ProgressState(enum.Enum):
    PROBE = "probe"  # unknown where the logs diverge: one App per round trip
    REPLICATE = "replicate"  # logs match up to `match`: stream entries optimistically
    SNAPSHOT = "snapshot"  # follower needs the snapshot; wait for its acknowledgement


@dataclass
class Progress:
    match: int
    next: int
    last_heard: int  # leader's tick counter when this peer last answered (check-quorum, autoremove)
    last_progress: int  # tick when match last advanced or data was last (re)sent from match+1
    state: ProgressState = ProgressState.PROBE
    probe_sent: bool = False  # in PROBE: an App is in flight, wait for its answer or a heartbeat
    pending_snapshot: int = 0

    def become_probe(self) -> None:
        self.state = ProgressState.PROBE
        self.next = self.match + 1
        self.probe_sent = False

    def become_replicate(self) -> None:
        self.state = ProgressState.REPLICATE
        self.next = self.match + 1

    def become_snapshot(self, index: int) -> None:
        self.state = ProgressState.SNAPSHOT
        self.pending_snapshot = index

    def maybe_update(self, index: int) -> bool:
        """The follower acknowledged everything up to `index`; True when that is news."""
        updated = index > self.match
        if updated:
            self.match = index
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decrease(self, rejected: int, hint: int) -> bool:
        """The follower rejected an App at `rejected`; move `next` back towards `hint`.

        Returns False for a stale rejection (a duplicate or reordered datagram).
        """
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.become_probe()
            self.next = max(min(rejected, hint + 1), self.match + 1)
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def describe(self) -> str:
        return f"{self.state.value} match={self.match} next={self.next}"
