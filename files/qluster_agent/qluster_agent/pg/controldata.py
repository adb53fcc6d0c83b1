"""Parsing `pg_controldata` output (run under LANG=C so the labels are English)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .lsn import parse_lsn


class ControlState(enum.Enum):
    """'Database cluster state' as pg_control records it."""

    STARTING_UP = "starting up"
    SHUT_DOWN = "shut down"
    SHUT_DOWN_IN_RECOVERY = "shut down in recovery"
    SHUTTING_DOWN = "shutting down"
    IN_CRASH_RECOVERY = "in crash recovery"
    IN_ARCHIVE_RECOVERY = "in archive recovery"
    IN_PRODUCTION = "in production"
    UNKNOWN = "unrecognized status code"

    @property
    def last_ran_as_primary(self) -> bool:
        """True when the server last ran (or crashed) as a writable primary.

        Such a data directory may hold WAL that no other node has, so it must go through
        pg_rewind before following a new leader; a standby's ("shut down in recovery",
        "in archive recovery") never wrote WAL of its own.
        """
        return self in (
            ControlState.SHUT_DOWN,
            ControlState.IN_PRODUCTION,
            ControlState.SHUTTING_DOWN,
            ControlState.IN_CRASH_RECOVERY,
        )


@dataclass(frozen=True)
class ControlData:
    system_identifier: int
    state: ControlState
    checkpoint_lsn: int
    redo_lsn: int
    timeline: int
    min_recovery_end_lsn: int
    min_recovery_end_timeline: int
    wal_log_hints: bool
    data_checksums: bool

    @property
    def rewindable(self) -> bool:
        """pg_rewind needs hint bits in WAL: wal_log_hints=on or data checksums."""
        return self.wal_log_hints or self.data_checksums


class ControlDataError(ValueError):
    pass


_LABELS = {
    "system_identifier": "Database system identifier",
    "state": "Database cluster state",
    "checkpoint_lsn": "Latest checkpoint location",
    "redo_lsn": "Latest checkpoint's REDO location",
    "timeline": "Latest checkpoint's TimeLineID",
    "min_recovery_end_lsn": "Minimum recovery ending location",
    "min_recovery_end_timeline": "Min recovery ending loc's timeline",
    "wal_log_hints": "wal_log_hints setting",
    "data_checksums": "Data page checksum version",
}


def parse_controldata(text: str) -> ControlData:
    """Parse the 'label: value' lines of pg_controldata; missing labels raise ControlDataError."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if sep:
            fields[label.strip()] = value.strip()

    def field(name: str) -> str:
        label = _LABELS[name]
        if label not in fields:
            raise ControlDataError(f"pg_controldata output has no {label!r} line")
        return fields[label]

    try:
        state = ControlState(field("state"))
    except ValueError:
        state = ControlState.UNKNOWN
    try:
        return ControlData(
            system_identifier=int(field("system_identifier")),
            state=state,
            checkpoint_lsn=parse_lsn(field("checkpoint_lsn")),
            redo_lsn=parse_lsn(field("redo_lsn")),
            timeline=int(field("timeline")),
            min_recovery_end_lsn=parse_lsn(field("min_recovery_end_lsn")),
            min_recovery_end_timeline=int(field("min_recovery_end_timeline")),
            wal_log_hints=field("wal_log_hints") == "on",
            data_checksums=int(field("data_checksums")) != 0,
        )
    except ValueError as exc:
        if isinstance(exc, ControlDataError):
            raise
        raise ControlDataError(f"unexpected pg_controldata value: {exc}") from None
