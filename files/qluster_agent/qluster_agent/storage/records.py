"""Byte layouts of what storage writes: checksummed frames, entries, hard state, snapshots.

A frame is   length:u32  crc32(payload):u32  payload
so a reader can tell a complete record from a torn one (a write cut short by a crash).
"""
from __future__ import annotations

import struct
import zlib
from typing import Iterator, Tuple

from ..raft.codec import DecodeError, decode_snapshot, encode_snapshot
from ..raft.types import Entry, EntryType, HardState, Snapshot

_FRAME = struct.Struct(">II")
_ENTRY = struct.Struct(">QQB")
_HARD_STATE = struct.Struct(">QQQ")
_EPOCH = struct.Struct(">Q")
MAX_RECORD = 1 << 30


class CorruptRecord(Exception):
    pass


def frame(payload: bytes) -> bytes:
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def read_frames(data: bytes) -> Iterator[Tuple[int, bytes]]:
    """Yield (end offset, payload) of every intact frame; stop at the first torn or corrupt one."""
    pos = 0
    while pos + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, pos)
        end = pos + _FRAME.size + length
        if length > MAX_RECORD or end > len(data):
            return
        payload = data[pos + _FRAME.size:end]
        if zlib.crc32(payload) != crc:
            return
        yield end, payload
        pos = end


def unframe(data: bytes) -> bytes:
    """The payload of a file holding exactly one frame (hard state, snapshot)."""
    for end, payload in read_frames(data):
        if end == len(data):
            return payload
    raise CorruptRecord("file does not hold exactly one intact record")


def encode_entry(entry: Entry) -> bytes:
    return _ENTRY.pack(entry.term, entry.index, int(entry.type)) + entry.data


def decode_entry(payload: bytes) -> Entry:
    try:
        term, index, kind = _ENTRY.unpack_from(payload, 0)
        return Entry(term, index, EntryType(kind), bytes(payload[_ENTRY.size:]))
    except (struct.error, ValueError) as exc:
        raise CorruptRecord(f"bad entry record: {exc}") from None


def encode_hard_state(hs: HardState) -> bytes:
    return _HARD_STATE.pack(hs.term, hs.vote, hs.commit)


def decode_hard_state(payload: bytes) -> HardState:
    try:
        return HardState(*_HARD_STATE.unpack(payload))
    except struct.error as exc:
        raise CorruptRecord(f"bad hard state: {exc}") from None


def encode_snapshot_file(epoch: int, snap: Snapshot) -> bytes:
    return _EPOCH.pack(epoch) + encode_snapshot(snap)


def decode_snapshot_file(payload: bytes) -> Tuple[int, Snapshot]:
    try:
        (epoch,) = _EPOCH.unpack_from(payload, 0)
        return epoch, decode_snapshot(payload[_EPOCH.size:])
    except (struct.error, DecodeError) as exc:
        raise CorruptRecord(f"bad snapshot file: {exc}") from None
