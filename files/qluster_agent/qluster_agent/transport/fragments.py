"""Splitting a message into datagram-sized fragments, and putting it back together.

The receiver keeps partial messages for a while; when one stops making progress it asks the
sender (NACK) for the missing indices, and the sender answers from a bounded cache of recently
sent fragmented messages. Memory on both sides is bounded: a partial message has a deadline and
the number of partial messages and cached bytes are capped.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

MessageKey = tuple[int, int, int]  # (sender, incarnation, msg_id)
_MAX_BACKOFF = 8  # the wait between NACKs doubles up to this factor


def split(payload: bytes, max_payload: int) -> list[bytes]:
    """At least one fragment, so an empty payload still travels."""
    return [payload[i:i + max_payload] for i in range(0, len(payload), max_payload)] or [b""]


@dataclass
class _Partial:
    count: int
    started: float
    last_progress: float
    address: tuple[str, int]
    pieces: dict[int, bytes] = field(default_factory=dict)
    nacks_sent: int = 0
    last_nack: float = 0.0

    def missing(self) -> list[int]:
        return [i for i in range(self.count) if i not in self.pieces]

    def patience(self, delay: float) -> float:
        """How long to wait without progress before (again) asking for the missing fragments.

        At least three times the gap seen between fragments, so a sender paced slower than we
        expected is not asked for what it is about to send; doubled after each unanswered NACK
        (up to 8x) so a slow or busy sender is not flooded with requests."""
        gap = (self.last_progress - self.started) / (len(self.pieces) - 1) if len(self.pieces) > 1 else 0.0
        return max(delay, 3 * gap) * min(2 ** self.nacks_sent, _MAX_BACKOFF)


@dataclass(frozen=True)
class NackRequest:
    key: MessageKey
    address: tuple[str, int]  # where the sender's datagrams came from
    missing: tuple[int, ...]


class Reassembler:
    """Collects fragments per message. Not thread-safe: owned by the receiving thread."""

    def __init__(self, max_pending: int = 64, max_nacks: int = 10, remember_finished: int = 4096) -> None:
        self._pending: OrderedDict[MessageKey, _Partial] = OrderedDict()
        # Messages delivered or given up: their late fragments must not start them again.
        self._finished: OrderedDict[MessageKey, None] = OrderedDict()
        self._max_pending = max_pending
        self._max_nacks = max_nacks
        self._remember_finished = remember_finished
        self.evicted = 0  # partial messages pushed out by newer ones
        self.expired = 0  # partial messages given up after max_nacks unanswered NACKs
        self.duplicates = 0  # fragments of a message already delivered or already held

    def add(self, key: MessageKey, index: int, count: int, piece: bytes,
            address: tuple[str, int], now: float) -> bytes | None:
        """Store one fragment; return the whole message when this completes it."""
        if count == 1:
            return piece
        if key in self._finished:
            self.duplicates += 1
            return None
        partial = self._pending.get(key)
        if partial is None:
            partial = self._pending[key] = _Partial(count, now, now, address)
            while len(self._pending) > self._max_pending:
                self._pending.popitem(last=False)
                self.evicted += 1
        if partial.count != count or index in partial.pieces:
            self.duplicates += 1
            return None
        partial.pieces[index] = piece
        partial.last_progress = now
        if len(partial.pieces) < count:
            return None
        self._finish(key)
        return b"".join(partial.pieces[i] for i in range(count))

    def _finish(self, key: MessageKey) -> None:
        del self._pending[key]
        self._finished[key] = None
        while len(self._finished) > self._remember_finished:
            self._finished.popitem(last=False)

    def due_nacks(self, now: float, delay: float) -> list[NackRequest]:
        """What to ask for: the missing fragments of partial messages that stalled (see
        _Partial.patience). A message whose NACKs went unanswered ``max_nacks`` times is dropped."""
        requests = []
        for key, partial in list(self._pending.items()):
            if now - max(partial.last_progress, partial.last_nack) < partial.patience(delay):
                continue
            if partial.nacks_sent >= self._max_nacks:
                self._finish(key)
                self.expired += 1
                continue
            partial.nacks_sent += 1
            partial.last_nack = now
            requests.append(NackRequest(key, partial.address, tuple(partial.missing())))
        return requests

    @property
    def pending(self) -> int:
        return len(self._pending)


class SentCache:
    """Fragments of recently sent multi-fragment messages, for answering NACKs; bounded in bytes.
    Not thread-safe: owned by the sending thread."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._messages: OrderedDict[int, list[bytes]] = OrderedDict()

    def remember(self, msg_id: int, pieces: list[bytes]) -> None:
        size = sum(len(piece) for piece in pieces)
        if size > self._max_bytes:
            return  # too big to cache: a lost piece of it cannot be recovered, the sender retries
        self._messages[msg_id] = pieces
        self._bytes += size
        while self._bytes > self._max_bytes:
            _unused, old = self._messages.popitem(last=False)
            self._bytes -= sum(len(piece) for piece in old)

    def pieces(self, msg_id: int) -> list[bytes] | None:
        return self._messages.get(msg_id)


def encode_nack(msg_id: int, missing: tuple[int, ...]) -> bytes:
    return msg_id.to_bytes(8, "big") + b"".join(i.to_bytes(2, "big") for i in missing)


def decode_nack(payload: bytes) -> tuple[int, list[int]]:
    """Raises ValueError on a malformed NACK payload."""
    if len(payload) < 8 or (len(payload) - 8) % 2:
        raise ValueError("malformed NACK")
    indices = [int.from_bytes(payload[i:i + 2], "big") for i in range(8, len(payload), 2)]
    return int.from_bytes(payload[:8], "big"), indices


def nack_capacity(max_payload: int) -> int:
    """How many fragment indices fit in one NACK datagram."""
    return (max_payload - 8) // 2
