"""pg_control read directly: the C struct's fields, and None for anything not intact.

The layout itself is checked against pg_controldata on real data directories in
test_pg_integration.py.
"""

import struct

from qluster_agent.pg.control_file import crc32c, parse_control_file
from qluster_agent.pg.controldata import ControlState


def control_bytes(state: int = 1, version: int = 1300, checkpoint: int = 0x0F0000A0, timeline: int = 17) -> bytearray:
    raw = bytearray(8192)
    struct.pack_into("<QIIi", raw, 0, 7306497125341843432, version, 202209061, state)
    struct.pack_into("<QQI", raw, 32, checkpoint, checkpoint - 0x28, timeline)
    struct.pack_into("<QI", raw, 136, 0x0F000000, 16)
    raw[176] = 1  # wal_log_hints
    struct.pack_into("<I", raw, 252, 0)  # no data checksums
    struct.pack_into("<I", raw, 288, crc32c(bytes(raw[:288])))
    return raw


def test_crc32c_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283


def test_fields_of_a_shut_down_primary() -> None:
    control = parse_control_file(bytes(control_bytes()))
    assert control is not None
    assert control.system_identifier == 7306497125341843432
    assert control.state is ControlState.SHUT_DOWN
    assert (control.checkpoint_lsn, control.redo_lsn, control.timeline) == (0x0F0000A0, 0x0F000078, 17)
    assert (control.min_recovery_end_lsn, control.min_recovery_end_timeline) == (0x0F000000, 16)
    assert control.wal_log_hints and not control.data_checksums
    assert parse_control_file(bytes(control_bytes(state=5))).state is ControlState.IN_ARCHIVE_RECOVERY
    assert parse_control_file(bytes(control_bytes(state=42))).state is ControlState.UNKNOWN


def test_anything_not_intact_is_left_to_pg_controldata() -> None:
    torn = control_bytes()
    torn[40] ^= 0xFF  # a read racing a write: the CRC no longer matches
    assert parse_control_file(bytes(torn)) is None
    assert parse_control_file(bytes(control_bytes(version=1700))) is None  # another layout
    assert parse_control_file(bytes(control_bytes())[:200]) is None
