"""Reading global/pg_control directly, without starting pg_controldata.

A switchover's demote polls pg_control until it records the shutdown checkpoint; on a loaded
machine each pg_controldata run costs tens of milliseconds, all of it write outage. The file
holds a fixed C struct (ControlFileData) followed by a CRC-32C of it. Only the layout of
pg_control version 1300 (PostgreSQL 13 to 16, checked against pg_controldata in the tests) is
read; any other version, a short read, a CRC mismatch (a read racing a write) or a file the
agent may not read returns None, and the caller runs pg_controldata instead.
"""

from __future__ import annotations

import struct
from pathlib import Path

from .controldata import ControlData, ControlState

CONTROL_FILE = Path("global") / "pg_control"
PG_CONTROL_VERSION = 1300
_CRC_OFFSET = 288  # offsetof(ControlFileData, crc) for version 1300 on 64-bit builds
# DBState in the order of its C enum.
_STATES = (
    ControlState.STARTING_UP,
    ControlState.SHUT_DOWN,
    ControlState.SHUT_DOWN_IN_RECOVERY,
    ControlState.SHUTTING_DOWN,
    ControlState.IN_CRASH_RECOVERY,
    ControlState.IN_ARCHIVE_RECOVERY,
    ControlState.IN_PRODUCTION,
)


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _bit in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def parse_control_file(raw: bytes) -> ControlData | None:
    """ControlData from pg_control's bytes; None when they are not a version-1300 file intact."""
    if len(raw) < _CRC_OFFSET + 4:
        return None
    system_identifier, version, _catalog, state = struct.unpack_from("<QIIi", raw, 0)
    if version != PG_CONTROL_VERSION or crc32c(raw[:_CRC_OFFSET]) != struct.unpack_from("<I", raw, _CRC_OFFSET)[0]:
        return None
    checkpoint_lsn, redo_lsn, timeline = struct.unpack_from("<QQI", raw, 32)
    min_recovery_end_lsn, min_recovery_end_timeline = struct.unpack_from("<QI", raw, 136)
    wal_log_hints = raw[176] != 0
    (checksum_version,) = struct.unpack_from("<I", raw, 252)
    return ControlData(
        system_identifier=system_identifier,
        state=_STATES[state] if 0 <= state < len(_STATES) else ControlState.UNKNOWN,
        checkpoint_lsn=checkpoint_lsn,
        redo_lsn=redo_lsn,
        timeline=timeline,
        min_recovery_end_lsn=min_recovery_end_lsn,
        min_recovery_end_timeline=min_recovery_end_timeline,
        wal_log_hints=wal_log_hints,
        data_checksums=checksum_version != 0,
    )


def read_control_file(datadir: Path) -> ControlData | None:
    try:
        with open(datadir / CONTROL_FILE, "rb") as handle:
            raw = handle.read(_CRC_OFFSET + 4)
    except OSError:
        return None
    return parse_control_file(raw)
