"""Immutable snapshots of the local database, read once per HA cycle."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .conninfo import Endpoint
from .controldata import ControlState
from .lsn import format_lsn


class DataDirState(enum.Enum):
    EMPTY = "empty"  # missing or without entries: nothing to lose
    VALID = "valid"  # PG_VERSION and global/pg_control present
    INVALID = "invalid"  # something there, but not a usable data directory


class DbRole(enum.Enum):
    """A database's role: what PgStatus.role reads, and what a node announces (Beacon.db_role)
    and the map shows, as these values."""

    PRIMARY = "primary"
    REPLICA = "replica"
    STOPPED = "stopped"
    # A postmaster runs but does not answer queries yet (starting, shutting down, recovering).
    UNAVAILABLE = "unavailable"
    # Announced only, never read from a database: a node without one (an observer), and one
    # whose database has not been read yet (or a role this version does not know).
    NONE = "none"
    UNKNOWN = "unknown"

    @classmethod
    def announced(cls, value: object) -> "DbRole":
        """The role a peer announced; UNKNOWN for anything this version does not know."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True)
class ReplicationRow:
    """One row of pg_stat_replication on the primary."""

    application_name: str
    client_addr: str | None
    state: str
    sync_state: str
    sent_lsn: int | None
    write_lsn: int | None
    flush_lsn: int | None
    replay_lsn: int | None
    # replay_lag in seconds: how long ago the primary wrote the WAL the standby has just replayed
    # (None when PostgreSQL has no recent measure: a standby caught up on an idle primary).
    replay_lag_s: float | None = None


@dataclass(frozen=True)
class ArchiverStats:
    """pg_stat_archiver: failures here mean WAL is piling up in pg_wal."""

    archived_count: int
    failed_count: int
    last_archived_wal: str | None
    last_failed_wal: str | None
    last_failed_time: float | None  # epoch seconds
    last_archived_time: float | None

    @property
    def failing(self) -> bool:
        """The most recent attempt failed (a failure newer than the last success)."""
        if self.last_failed_time is None:
            return False
        return self.last_archived_time is None or self.last_failed_time > self.last_archived_time


@dataclass(frozen=True, order=True)
class WalMark:
    """How far a node's history goes: timeline first, then the position on it.

    LSNs alone do not order histories that forked: a node left on timeline 1 can hold WAL past
    the point where timeline 2 began, yet timeline 2 is the cluster's history. Comparing
    (timeline, lsn) puts the newer timeline first, as a vote check should.
    """

    timeline: int
    lsn: int


@dataclass(frozen=True)
class PgStatus:
    datadir: DataDirState
    running: bool  # a postmaster process for this data directory is alive
    accepting: bool  # it answered our status query
    in_recovery: bool | None = None
    timeline: int | None = None
    current_lsn: int | None = None  # primary: pg_current_wal_lsn()
    flush_lsn: int | None = None  # primary: pg_current_wal_flush_lsn(), what standbys can have
    received_lsn: int | None = None  # replica: pg_last_wal_receive_lsn()
    replayed_lsn: int | None = None  # replica: pg_last_wal_replay_lsn()
    system_identifier: int | None = None
    streaming: bool = False  # pg_stat_wal_receiver.status = 'streaming'
    upstream: Endpoint | None = None  # where primary_conninfo points
    synchronous_standby_names: str | None = None
    replication: tuple[ReplicationRow, ...] = field(default_factory=tuple)
    archiver: ArchiverStats | None = None
    # From pg_controldata; read when the server is stopped (tells a former primary apart).
    control_state: ControlState | None = None
    checkpoint_lsn: int | None = None  # stopped only: the last checkpoint, a lower bound of its WAL
    # Where its valid WAL ends on disk (pg/wal_end.py), past the checkpoint after a crash or an
    # immediate stop: read when stopped, and when running as a standby that is not yet
    # consistent (it takes no query) and receives nothing; None when unknown.
    wal_end_lsn: int | None = None
    # Consecutive failed starts since the last successful one (kept by the controller).
    start_failures: int = 0
    # A replica neither streaming nor replaying since this time (the controller's clock, the
    # one the HA loop passes to decide() as `now`); None when it streams or makes progress.
    stalled_since: float | None = None
    # A running server that does not answer queries since this time (the controller's clock);
    # None when it answers, is stopped, or is finishing a demote's shutdown.
    unavailable_since: float | None = None
    # A replica running with wal_receiver_create_temp_slot off: controller.follow() pointed it at
    # a new leader that way; controller.restore_temp_slot() turns it back on.
    temp_slot_deferred: bool = False
    # A setting reloaded that takes effect only at the next restart (pg_settings.pending_restart);
    # None when the server was not read (stopped, not answering).
    pending_restart: bool | None = None
    error: str | None = None  # why the status query failed, if it did

    @property
    def role(self) -> DbRole:
        if not self.running:
            return DbRole.STOPPED
        if not self.accepting or self.in_recovery is None:
            return DbRole.UNAVAILABLE
        return DbRole.REPLICA if self.in_recovery else DbRole.PRIMARY

    @property
    def wal_position(self) -> int | None:
        """How much WAL this node holds: what a vote check compares.

        Stopped, or a standby recovering without a walreceiver: the end of its valid WAL when
        pg_waldump could tell (a fenced or crashed primary holds every transaction it
        acknowledged past its last checkpoint), else the
        last checkpoint from pg_control, a lower bound. Shutting down after a demote: its
        shutdown checkpoint, the last record it wrote.
        """
        if self.role is DbRole.PRIMARY:
            return self.current_lsn
        if self.role in (DbRole.STOPPED, DbRole.UNAVAILABLE) and self.wal_end_lsn is not None:
            return max(self.wal_end_lsn, self.checkpoint_lsn or 0)
        if self.role in (DbRole.STOPPED, DbRole.UNAVAILABLE):
            return self.checkpoint_lsn  # UNAVAILABLE: known only while a demote's shutdown ends
        positions = [p for p in (self.received_lsn, self.replayed_lsn) if p is not None]
        return max(positions) if positions else None

    @property
    def wal_mark(self) -> WalMark | None:
        position = self.wal_position
        if position is None or self.timeline is None:
            return None
        return WalMark(self.timeline, position)

    @property
    def last_ran_as_primary(self) -> bool:
        return self.control_state is not None and self.control_state.last_ran_as_primary

    def describe(self) -> str:
        """One line for logs and the CLI: 'replica on timeline 2, streaming from 10.0.0.1:5432, ...'."""
        role = self.role
        if role is DbRole.STOPPED:
            state = self.control_state.value if self.control_state else "no pg_control"
            return f"stopped ({self.datadir.value} data directory, {state})"
        if role is DbRole.UNAVAILABLE:
            return f"running but not answering ({self.error or 'starting or stopping'})"
        parts = [f"{role.value} on timeline {self.timeline}"]
        if role is DbRole.PRIMARY:
            parts.append(f"at {_lsn(self.current_lsn)}")
            parts.append(f"{len(self.replication)} standby(s) connected")
        else:
            source = self.upstream.describe() if self.upstream else "the archive only"
            parts.append(f"{'streaming' if self.streaming else 'not streaming'} from {source}")
            parts.append(f"received {_lsn(self.received_lsn)}, replayed {_lsn(self.replayed_lsn)}")
        if self.archiver is not None and self.archiver.failing:
            parts.append(f"archiving failing at {self.archiver.last_failed_wal}")
        return ", ".join(parts)


def _lsn(value: int | None) -> str:
    return "?" if value is None else format_lsn(value)
