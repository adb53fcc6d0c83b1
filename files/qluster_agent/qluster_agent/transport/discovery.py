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

    def heard(self, node_id: int, incarnation: int, address: tuple[str, int], now: float) -> None:
        with self._lock:
            self._addresses[node_id] = address
            peer = self._peers.get(node_id)
            if peer is not None:
                self._peers[node_id] = PeerInfo(node_id, address, incarnation, peer.info, now)

    def hello(self, node_id: int, incarnation: int, address: tuple[str, int], info: bytes, now: float) -> None:
        with self._lock:
            self._addresses[node_id] = address
            self._peers[node_id] = PeerInfo(node_id, address, incarnation, info, now)

    def address_of(self, node_id: int) -> tuple[str, int] | None:
        with self._lock:
            return self._addresses.get(node_id)

    def snapshot(self) -> dict[int, PeerInfo]:
        with self._lock:
            return dict(self._peers)
