"""Stall tracking for replicas, and PgStatus.describe() lines."""

from __future__ import annotations

from qluster_agent.pg.conninfo import Endpoint
from qluster_agent.pg.controldata import ControlState
from qluster_agent.pg.stall import StallTracker
from qluster_agent.pg.status import ArchiverStats, DataDirState, PgStatus, ReplicationRow


def test_stall_starts_when_streaming_stops_and_replay_stands_still() -> None:
    tracker = StallTracker()
    assert tracker.observe(replica=True, streaming=True, replayed_lsn=100, now=1.0) is None
    assert tracker.observe(replica=True, streaming=False, replayed_lsn=100, now=2.0) == 2.0
    assert tracker.observe(replica=True, streaming=False, replayed_lsn=100, now=40.0) == 2.0


def test_replaying_from_the_archive_is_progress_not_a_stall() -> None:
    tracker = StallTracker()
    tracker.observe(replica=True, streaming=False, replayed_lsn=100, now=1.0)
    assert tracker.observe(replica=True, streaming=False, replayed_lsn=200, now=30.0) == 30.0
    assert tracker.observe(replica=True, streaming=False, replayed_lsn=200, now=50.0) == 30.0


def test_primary_streaming_or_reset_clear_the_stall() -> None:
    tracker = StallTracker()
    tracker.observe(replica=True, streaming=False, replayed_lsn=100, now=1.0)
    assert tracker.observe(replica=False, streaming=False, replayed_lsn=None, now=2.0) is None
    tracker.observe(replica=True, streaming=False, replayed_lsn=100, now=3.0)
    tracker.reset()
    assert tracker.observe(replica=True, streaming=False, replayed_lsn=100, now=9.0) == 9.0


def test_describe_a_primary_a_replica_and_a_stopped_server() -> None:
    primary = PgStatus(
        datadir=DataDirState.VALID,
        running=True,
        accepting=True,
        in_recovery=False,
        timeline=2,
        current_lsn=0x3000060,
        replication=(ReplicationRow("qluster_2", "10.0.0.2", "streaming", "quorum", 1, 1, 1, 1),),
        archiver=ArchiverStats(5, 1, "000000020000000000000002", "000000020000000000000003", 20.0, 10.0),
    )
    assert primary.describe() == (
        "primary on timeline 2, at 0/3000060, 1 standby(s) connected, archiving failing at 000000020000000000000003"
    )
    replica = PgStatus(
        datadir=DataDirState.VALID,
        running=True,
        accepting=True,
        in_recovery=True,
        timeline=2,
        received_lsn=0x3000060,
        replayed_lsn=0x3000000,
        streaming=True,
        upstream=Endpoint("10.0.0.1", 5432),
    )
    assert replica.describe() == (
        "replica on timeline 2, streaming from 10.0.0.1:5432, received 0/3000060, replayed 0/3000000"
    )
    stopped = PgStatus(datadir=DataDirState.VALID, running=False, accepting=False, control_state=ControlState.SHUT_DOWN)
    assert stopped.describe() == "stopped (valid data directory, shut down)"
    assert PgStatus(datadir=DataDirState.EMPTY, running=True, accepting=False, error="x").describe() == (
        "running but not answering (x)"
    )


def test_wal_position_and_mark_by_role() -> None:
    primary = PgStatus(
        datadir=DataDirState.VALID, running=True, accepting=True, in_recovery=False, timeline=3, current_lsn=500
    )
    replica = PgStatus(
        datadir=DataDirState.VALID,
        running=True,
        accepting=True,
        in_recovery=True,
        timeline=2,
        received_lsn=900,
        replayed_lsn=800,
    )
    stopped = PgStatus(datadir=DataDirState.VALID, running=False, accepting=False, timeline=2, checkpoint_lsn=700)
    assert (primary.wal_position, replica.wal_position, stopped.wal_position) == (500, 900, 700)
    # A newer timeline outranks more WAL on an older one.
    assert primary.wal_mark > replica.wal_mark > stopped.wal_mark
    assert PgStatus(datadir=DataDirState.EMPTY, running=False, accepting=False).wal_mark is None
