"""Noticing a replica that neither streams nor replays (pure: time comes in as an argument).

A replica whose WAL forked from the new leader's (it received WAL the old leader never got to
the others) retries its walreceiver forever: 'requested timeline is not a child of this
server's history'. A replica catching up from the archive also does not stream, but its replay
position moves. So: not streaming AND the replay position unchanged, since when?
"""

from __future__ import annotations


class StallTracker:
    def __init__(self) -> None:
        self._since: float | None = None
        self._position: int | None = None

    def observe(self, replica: bool, streaming: bool, replayed_lsn: int | None, now: float) -> float | None:
        """Feed one status reading; returns when the stall began, or None when not stalled."""
        if not replica or streaming:
            self._since, self._position = None, None
            return None
        if self._since is None or replayed_lsn != self._position:
            self._since, self._position = now, replayed_lsn
        return self._since

    def reset(self) -> None:
        """A new upstream deserves a fresh grace period."""
        self._since, self._position = None, None
