"""One log line per kind of refused datagram and source address per minute.

Counters say how many datagrams were refused; an operator also needs to know from where and
why: a node configured with another secret shows up here at once ("failed authentication"),
and a flood of junk cannot flood the journal.
"""

from __future__ import annotations

import logging

_log = logging.getLogger("qluster_agent.transport")

# Refusals worth telling an operator about; duplicates and late datagrams are normal on UDP.
_REASONS = {
    "dropped_bad_mac": "failed authentication (a different secret, or forged)",
    "dropped_foreign_cluster": "belongs to another cluster id",
    "dropped_bad_version": "speaks another protocol version",
    "dropped_truncated": "is too short to be a qluster datagram",
    "dropped_oversized": "is larger than max-log-size allows",
    "dropped_bad_magic": "is not a qluster datagram",
    "dropped_malformed": "has an impossible header (a bug in the sender?)",
}


class Complaints:
    """Not thread-safe: owned by the receiving thread."""

    def __init__(self, interval: float = 60.0) -> None:
        self._interval = interval
        self._last: dict[tuple[str, str], float] = {}

    def refused(self, counter: str, address: tuple[str, int], now: float) -> None:
        reason = _REASONS.get(counter)
        if reason is None:
            return
        key = (counter, address[0])
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return
        if len(self._last) > 4096:  # many spoofed source addresses: forget, stay bounded
            self._last.clear()
        self._last[key] = now
        _log.warning("transport: dropped a datagram from %s:%d that %s (logged once a minute "
                     "per sender; see the %s counter)", address[0], address[1], reason, counter)
