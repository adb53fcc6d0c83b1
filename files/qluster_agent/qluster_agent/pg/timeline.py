"""A replica's timeline while its walreceiver is down (pure).

The walreceiver names the newest timeline a replica has received WAL on. When it is not running
(the primary went away, a timeline switch, a restart) the only other timeline SQL can tell in
recovery is the last restartpoint's, which lags behind. Pairing that older timeline with the
position received on a newer one would make the node look behind a standby it is level with:
a switchover target would then lose the vote it needs. Within one run of the server recovery
only ever moves to newer timelines, so the highest one seen stays true until the server stops
or leaves recovery.
"""

from __future__ import annotations


class ReplicaTimeline:
    def __init__(self) -> None:
        self._highest: int | None = None

    def observe(self, timeline: int | None) -> int | None:
        """Feed one reading of a replica; returns the timeline to report for it."""
        if timeline is not None and (self._highest is None or timeline > self._highest):
            self._highest = timeline
        return self._highest

    def reset(self) -> None:
        """The server stopped or left recovery: the next run starts from what it reports."""
        self._highest = None
