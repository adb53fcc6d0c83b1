"""Replay protection: per sender, the newest incarnation and a sliding window of sequence numbers,
and, after a restart of either side, trust only from a fresh echo on.

Each process start picks a new incarnation that is larger than the last one (wall-clock based,
see ``new_incarnation``), and numbers its datagrams 1, 2, 3... A datagram is accepted once; one
from an older incarnation than the newest seen is refused, so recorded traffic of a previous run
cannot be replayed.

A receiver that has just started remembers nothing, so recorded datagrams of a peer's current
run would pass the window (stale hellos included, which switchover and votes read). So a
receiver trusts a peer's run (sender, incarnation) only from an echo on (PeerTrust): each
transport draws a random challenge at start and carries it in the message-id field of its
hellos, with a bit asking for echoes while some peer is not yet trusted; a peer answers with a
hello addressed to it that carries the challenge back. Everything the peer's run sent before
that echo has a lower sequence number and is refused; what it sends after is accepted once. A
peer whose hellos carry no challenge at all runs an agent from before this protocol and is
trusted as before, at its first datagram (a rolling update).
"""

from __future__ import annotations

import enum
import os
import secrets
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
    UNTRUSTED = "dropped_untrusted"  # from a peer's run that has not echoed our challenge yet


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

    def incarnation(self, sender: int) -> int | None:
        """The newest incarnation of `sender` accepted so far."""
        state = self._senders.get(sender)
        return state.incarnation if state is not None else None

    def start_after(self, sender: int, incarnation: int, seq: int) -> None:
        """Follow `sender`'s run `incarnation` from `seq` on: `seq` and every number below it
        count as seen."""
        self._senders[sender] = _Window(incarnation, seq, (1 << self._window) - 1)

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


LEGACY_HELLO_TAG = 0  # the message id of every hello of an agent from before PeerTrust
# A run that sent nothing for this long no longer makes our hellos ask for echoes (a removed
# node's last datagrams, or recorded ones, would otherwise keep every peer echoing).
WAIT_FOR_ECHO_S = 10.0


def new_challenge() -> int:
    """A random non-zero 63-bit number (the tag's low bit is the echo request)."""
    return secrets.randbelow(2**63 - 1) + 1


def hello_tag(challenge: int, wants_echo: bool) -> int:
    """The message id of a hello: its challenge (ours, or the one echoed) and the echo request."""
    return challenge << 1 | int(wants_echo)


class PeerTrust:
    """Which peers' runs this receiver trusts; the ReplayGuard of those it does. Owned by the
    receiving side (its read lock); the sending side only asks wants_echo()."""

    def __init__(self, node_id: int, challenge: int | None = None, window: int = WINDOW) -> None:
        self.node_id = node_id
        self.challenge = challenge or new_challenge()
        self._replay = ReplayGuard(window)
        # sender -> (the newest run that has not echoed yet, when it was last heard)
        self._waiting: dict[int, tuple[int, float]] = {}

    def wants_echo(self, now: float) -> bool:
        """Whether some peer's run waits for its echo (our hellos then ask for one). The one
        reading the sending side makes: the copy is taken in one step under the GIL."""
        return any(now - heard < WAIT_FOR_ECHO_S for _run, heard in tuple(self._waiting.values()))

    def waiting_run(self, sender: int) -> int | None:
        """The run of `sender` that waits for its echo, if any."""
        waiting = self._waiting.get(sender)
        return waiting[0] if waiting is not None else None

    def check(self, kind_is_hello: bool, sender: int, incarnation: int, seq: int, dest: int, tag: int,
              now: float) -> Verdict:
        """Record an authentic datagram's numbers and say whether to accept it."""
        known = self._replay.incarnation(sender)
        if known is not None and incarnation < known:
            return Verdict.STALE_INCARNATION
        if known == incarnation:
            return self._replay.check(sender, incarnation, seq)
        if kind_is_hello and dest == self.node_id and tag >> 1 == self.challenge:
            # The echo: sent after this receiver started, so everything before it is old.
            self._waiting.pop(sender, None)
            self._replay.start_after(sender, incarnation, seq)
            return Verdict.ACCEPT
        if kind_is_hello and dest == 0 and tag == LEGACY_HELLO_TAG:
            self._waiting.pop(sender, None)
            return self._replay.check(sender, incarnation, seq)
        waiting, _heard = self._waiting.get(sender, (0, 0.0))
        self._waiting[sender] = (max(waiting, incarnation), now)
        return Verdict.UNTRUSTED
