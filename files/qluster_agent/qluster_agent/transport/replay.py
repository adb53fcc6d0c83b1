"""Replay protection: per sender, the newest incarnation and a sliding window of sequence numbers.

Each process start picks a new incarnation that is larger than the last one (wall-clock based,
see ``new_incarnation``), and numbers its datagrams 1, 2, 3... A datagram is accepted once; one
from an older incarnation than the newest seen is refused, so recorded traffic of a previous run
cannot be replayed, while a restarted node (newer incarnation) is heard at once.
"""

from __future__ import annotations

import enum
import os
import time
from dataclasses import dataclass

WINDOW = 1024  # how far behind the newest sequence number a late datagram is still accepted


def new_incarnation(previous: int = 0) -> int:
    """Microseconds since the epoch in the high bits, 12 random bits below: increases across
    restarts as long as the clock does not step back, and two processes practically never
    collide. A caller that stores the last incarnation (on disk) passes it as ``previous`` and
    gets a larger one even after the clock stepped back; without that, peers ignore a node
    restarted with a clock behind its previous start until its clock catches up."""
    from_clock = (time.time_ns() // 1000) << 12 | int.from_bytes(os.urandom(2), "big") & 0xFFF
    return max(from_clock, previous + 1)


class Verdict(enum.Enum):
    ACCEPT = "accept"
    REPLAYED = "dropped_replayed"
    STALE_INCARNATION = "dropped_stale_incarnation"


@dataclass
class _Window:
    incarnation: int
    highest: int = 0
    seen: int = 0  # bit i set = sequence number (highest - i) was seen


class ReplayGuard:
    """Not thread-safe: owned by the receiving thread."""

    def __init__(self, window: int = WINDOW) -> None:
        self._window = window
        self._senders: dict[int, _Window] = {}

    def check(self, sender: int, incarnation: int, seq: int) -> Verdict:
        """Record (sender, incarnation, seq) and say whether it is new."""
        state = self._senders.get(sender)
        if state is None or incarnation > state.incarnation:
            state = self._senders[sender] = _Window(incarnation)
        elif incarnation < state.incarnation:
            return Verdict.STALE_INCARNATION
        if seq > state.highest:
            shift = seq - state.highest
            state.seen = ((state.seen << shift) | 1) & ((1 << self._window) - 1)
            state.highest = seq
            return Verdict.ACCEPT
        offset = state.highest - seq
        if offset >= self._window or state.seen >> offset & 1:
            return Verdict.REPLAYED
        state.seen |= 1 << offset
        return Verdict.ACCEPT
