"""Thread-safe counters behind Transport.stats()."""

from __future__ import annotations

import threading

COUNTERS = (
    "sent_messages", "sent_datagrams", "sent_bytes", "send_errors", "send_queue_dropped",
    "received_messages", "received_datagrams", "received_bytes", "recv_queue_dropped",
    # Every way an incoming datagram is refused (see wire.decode and Transport._on_datagram):
    "dropped_truncated", "dropped_bad_magic", "dropped_bad_version", "dropped_foreign_cluster",
    "dropped_oversized", "dropped_bad_mac", "dropped_malformed", "dropped_replayed",
    "dropped_stale_incarnation", "dropped_untrusted", "dropped_not_for_me", "dropped_own",
    "dropped_duplicate_fragment",
    # Fragment recovery:
    "nacks_sent", "nacks_received", "nack_misses", "fragments_retransmitted",
    "reassembly_expired", "reassembly_evicted",
    "hellos_sent", "hellos_received",  # datagrams: a hello to N unicast peers counts N
    "echoes_sent",  # hellos that carry a peer's challenge back (replay.PeerTrust)
    "internal_errors",  # a bug caught in the receiving thread (logged with its traceback)
)


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount  # KeyError on a typo: counters are a closed set

    def add_together(self, **amounts: int) -> None:
        """Several counters in one step, so no snapshot sees one without the others."""
        with self._lock:
            for name, amount in amounts.items():
                self._counts[name] += amount

    def set(self, name: str, value: int) -> None:
        with self._lock:
            self._counts[name] = value

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
