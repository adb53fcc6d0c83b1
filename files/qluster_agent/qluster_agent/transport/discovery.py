"""The peers a node has heard of: addresses from any authentic datagram, metadata from hellos."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class PeerInfo:
    node_id: int
    address: tuple[str, int]  # where its datagrams come from; addressed sends go there
    incarnation: int  # changes when the peer's process restarts
    info: bytes  # the opaque metadata of its last hello (Transport.set_hello)
    last_seen: float  # time.monotonic() of its last authentic datagram


class PeerTable:
    """Shared by the receiving thread (writes) and callers of peers()/the sender (reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._addresses: dict[int, tuple[str, int]] = {}
        self._peers: dict[int, PeerInfo] = {}

    def heard(self, node_id: int, incarnation: int, address: tuple[str, int], now: float) -> str | None:
        """Record any authentic datagram; return news about a known peer for the log, if any."""
        with self._lock:
            self._addresses[node_id] = address
            before = self._peers.get(node_id)
            if before is None:
                return None
            self._peers[node_id] = PeerInfo(node_id, address, incarnation, before.info, now)
        if before.incarnation != incarnation:
            return "restarted"
        if before.address != address:
            return f"moved from {before.address[0]}:{before.address[1]}"
        return None

    def hello(self, node_id: int, incarnation: int, address: tuple[str, int], info: bytes,
              now: float) -> tuple[bool, bool]:
        """Record a hello's metadata; (the first time this node is heard of, its metadata
        differs from its last hello's)."""
        with self._lock:
            self._addresses[node_id] = address
            before = self._peers.get(node_id)
            self._peers[node_id] = PeerInfo(node_id, address, incarnation, info, now)
        return before is None, before is None or before.info != info

    def address_of(self, node_id: int) -> tuple[str, int] | None:
        with self._lock:
            return self._addresses.get(node_id)

    def snapshot(self) -> dict[int, PeerInfo]:
        with self._lock:
            return dict(self._peers)
