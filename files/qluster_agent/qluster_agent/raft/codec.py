"""Wire codec for core messages: a compact big-endian struct layout.

    header  "QR" version:u8 type:u8 frm to term log_term index commit reject_hint context (u64 each)
            flags:u8 (1 reject, 2 force, 4 snapshot follows) entry_count:u32
    entry   term:u64 index:u64 type:u8 length:u32 data
    snapshot index:u64 term:u64 voters:u16 ids:u64.. observers:u16 ids:u64.. length:u32 data

decode() validates everything the core relies on (known types, positive ids, contiguous entries,
decodable conf changes, no trailing bytes) and raises DecodeError, never anything else: it is
fed whatever arrives on the network.
"""
from __future__ import annotations

import struct
from typing import List, Tuple

from .types import (LOCAL_TYPES, ConfChange, ConfState, Entry, EntryType, Message, MessageType,
                    Snapshot)

MAGIC = b"QR"
VERSION = 1
_HEADER = struct.Struct(">2sBB8QBI")
_ENTRY = struct.Struct(">QQBI")
_SNAP_HEAD = struct.Struct(">QQ")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_REJECT, _FORCE, _HAS_SNAPSHOT = 1, 2, 4
MAX_U64 = 2 ** 64 - 1


class DecodeError(ValueError):
    """The bytes are not a valid message of this protocol version."""


def encode(msg: Message) -> bytes:
    if msg.type in LOCAL_TYPES:
        raise ValueError(f"{msg.describe()} is a local message and never goes on the wire")
    flags = (_REJECT if msg.reject else 0) | (_FORCE if msg.force else 0) | (
        _HAS_SNAPSHOT if msg.snapshot is not None else 0)
    parts = [_HEADER.pack(MAGIC, VERSION, int(msg.type), msg.frm, msg.to, msg.term, msg.log_term, msg.index,
                          msg.commit, msg.reject_hint, msg.context, flags, len(msg.entries))]
    for entry in msg.entries:
        parts.append(_ENTRY.pack(entry.term, entry.index, int(entry.type), len(entry.data)))
        parts.append(entry.data)
    if msg.snapshot is not None:
        parts.append(encode_snapshot(msg.snapshot))
    return b"".join(parts)


def encode_snapshot(snap: Snapshot) -> bytes:
    parts = [_SNAP_HEAD.pack(snap.index, snap.term)]
    for ids in (sorted(snap.conf.voters), sorted(snap.conf.observers)):
        parts.append(_U16.pack(len(ids)))
        parts.extend(_U64.pack(i) for i in ids)
    parts.append(_U32.pack(len(snap.data)))
    parts.append(snap.data)
    return b"".join(parts)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise DecodeError(f"truncated: need {size} bytes at offset {self.pos} of {len(self.data)}")
        out = bytes(self.data[self.pos:self.pos + size])
        self.pos += size
        return out

    def unpack(self, fmt: struct.Struct) -> Tuple[int, ...]:
        return fmt.unpack(self.take(fmt.size))

    def done(self) -> None:
        if self.pos != len(self.data):
            raise DecodeError(f"{len(self.data) - self.pos} trailing bytes")


def decode(data: bytes) -> Message:
    try:
        return _decode(data)
    except DecodeError:
        raise
    except Exception as exc:  # hostile input must never escape as another exception type
        raise DecodeError(f"malformed message: {exc!r}") from None


def decode_snapshot(data: bytes) -> Snapshot:
    try:
        reader = _Reader(data)
        snap = _read_snapshot(reader)
        reader.done()
        return snap
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"malformed snapshot: {exc!r}") from None


def _decode(data: bytes) -> Message:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    reader = _Reader(bytes(data))
    (magic, version, kind, frm, to, term, log_term, index, commit, hint, context, flags,
     count) = reader.unpack(_HEADER)
    if magic != MAGIC:
        raise DecodeError("bad magic")
    if version != VERSION:
        raise DecodeError(f"unsupported version {version}")
    try:
        mtype = MessageType(kind)
    except ValueError:
        raise DecodeError(f"unknown message type {kind}") from None
    if mtype in LOCAL_TYPES:
        raise DecodeError(f"local message type {mtype.name} on the wire")
    if frm <= 0 or to <= 0:
        raise DecodeError("node ids must be positive")
    if flags & ~(_REJECT | _FORCE | _HAS_SNAPSHOT):
        raise DecodeError(f"unknown flags {flags:#x}")
    if count and mtype != MessageType.APP:
        raise DecodeError(f"{mtype.name} cannot carry entries")
    if count > len(data) // _ENTRY.size:
        raise DecodeError(f"entry count {count} exceeds the datagram")
    entries: List[Entry] = []
    for offset in range(count):
        e_term, e_index, e_type, length = reader.unpack(_ENTRY)
        try:
            etype = EntryType(e_type)
        except ValueError:
            raise DecodeError(f"unknown entry type {e_type}") from None
        if e_index != index + 1 + offset or e_index > MAX_U64 - 1:
            raise DecodeError(f"entries not contiguous after index {index}")
        if e_term > term or e_term == 0:
            raise DecodeError(f"entry term {e_term} outside 1..{term}")
        payload = reader.take(length)
        if etype == EntryType.CONF_CHANGE:
            _check_conf_change(payload)
        entries.append(Entry(e_term, e_index, etype, payload))
    snapshot = None
    if flags & _HAS_SNAPSHOT:
        if mtype != MessageType.SNAP:
            raise DecodeError(f"{mtype.name} cannot carry a snapshot")
        snapshot = _read_snapshot(reader)
    elif mtype == MessageType.SNAP:
        raise DecodeError("Snap without a snapshot")
    reader.done()
    return Message(type=mtype, frm=frm, to=to, term=term, log_term=log_term, index=index,
                   entries=tuple(entries), commit=commit, reject=bool(flags & _REJECT), reject_hint=hint,
                   context=context, force=bool(flags & _FORCE), snapshot=snapshot)


def _read_snapshot(reader: _Reader) -> Snapshot:
    s_index, s_term = reader.unpack(_SNAP_HEAD)
    groups = []
    for _unused in range(2):
        (n,) = reader.unpack(_U16)
        ids = frozenset(reader.unpack(_U64)[0] for _unused in range(n))
        if len(ids) != n or any(i <= 0 for i in ids):
            raise DecodeError("snapshot membership has duplicate or non-positive ids")
        groups.append(ids)
    if groups[0] & groups[1]:
        raise DecodeError("a node cannot be both voter and observer")
    (length,) = reader.unpack(_U32)
    return Snapshot(s_index, s_term, ConfState(groups[0], groups[1]), reader.take(length))


def _check_conf_change(payload: bytes) -> None:
    try:
        change = ConfChange.decode(payload)
    except (struct.error, ValueError):
        raise DecodeError("undecodable conf change") from None
    if change.node_id <= 0:
        raise DecodeError("conf change for a non-positive node id")
