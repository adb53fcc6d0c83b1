"""The datagram format. Every datagram is

    header (52 bytes, big-endian) | payload (<= max-log-size bytes) | MAC (16 bytes)

header = magic "QR", version, kind, cluster tag (first 4 bytes of SHA-256 of the cluster id),
sender id, sender incarnation, sequence number, destination id (0 = everyone), message id,
fragment index, fragment count. The MAC is HMAC-SHA256 over header + payload, truncated to
16 bytes (128 bits is far beyond what an on-path forger can guess).

``decode`` checks the cheap things first (length, magic, version, cluster, size) so a flood of
junk costs no HMAC computations; it raises Rejected with the stats counter to bump.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from typing import NamedTuple

from .auth import mac_matches, sign

MAGIC = b"QR"
VERSION = 1
HEADER = struct.Struct(">2sBBIQQQQQHH")
MAC_SIZE = 16
OVERHEAD = HEADER.size + MAC_SIZE
MAX_UDP_PAYLOAD = 65507  # IPv4: 65535 - 20 (IP header) - 8 (UDP header)
MAX_FRAGMENTS = 1024  # bounds one message to MAX_FRAGMENTS * max-log-size bytes (64 MB at 64000)


class Kind(enum.IntEnum):
    DATA = 1  # a fragment of a payload for the consensus layer
    HELLO = 2  # discovery: the sender's opaque metadata
    NACK = 3  # "I miss these fragments of your message msg_id"


_KINDS = {kind.value: kind for kind in Kind}


class Header(NamedTuple):
    """A tuple rather than a frozen dataclass: one is built for every datagram sent and received."""

    kind: Kind
    cluster_tag: int
    sender: int
    incarnation: int
    seq: int
    dest: int  # 0 = every member
    msg_id: int
    frag_index: int
    frag_count: int

    def pack(self) -> bytes:
        return HEADER.pack(
            MAGIC, VERSION, self.kind, self.cluster_tag, self.sender, self.incarnation,
            self.seq, self.dest, self.msg_id, self.frag_index, self.frag_count,
        )


class Rejected(Exception):
    """A datagram that must be dropped; ``counter`` names the stats() entry to increment."""

    def __init__(self, counter: str) -> None:
        super().__init__(counter)
        self.counter = counter


def cluster_tag(cluster_id: str) -> int:
    return int.from_bytes(hashlib.sha256(cluster_id.encode()).digest()[:4], "big")


def encode(header: Header, payload: bytes, key: bytes) -> bytes:
    body = header.pack() + payload
    return body + sign(key, body)


def decode(datagram: bytes, key: bytes, expected_tag: int, max_payload: int) -> tuple[Header, bytes]:
    """Parse and authenticate one datagram or raise Rejected."""
    if len(datagram) < OVERHEAD:
        raise Rejected("dropped_truncated")
    magic, version, kind, tag, sender, incarnation, seq, dest, msg_id, index, count = HEADER.unpack_from(datagram)
    if magic != MAGIC:
        raise Rejected("dropped_bad_magic")
    if version != VERSION:
        raise Rejected("dropped_bad_version")
    if tag != expected_tag:
        raise Rejected("dropped_foreign_cluster")
    if len(datagram) > OVERHEAD + max_payload:
        raise Rejected("dropped_oversized")
    body, mac = datagram[:-MAC_SIZE], datagram[-MAC_SIZE:]
    if not mac_matches(key, body, mac):
        raise Rejected("dropped_bad_mac")
    known = _KINDS.get(kind)
    if known is None or sender == 0 or count == 0 or index >= count or count > MAX_FRAGMENTS:
        raise Rejected("dropped_malformed")  # authentic but nonsensical: a bug in a peer, not an attack
    header = Header(known, tag, sender, incarnation, seq, dest, msg_id, index, count)
    return header, body[HEADER.size:]
