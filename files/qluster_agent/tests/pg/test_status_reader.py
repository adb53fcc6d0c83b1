"""StatusReader on a running server that takes no query (no server listens on the socket here; the
server control is a fake of one layer): when it may stand by the WAL on its disk, and when not."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from qluster_agent.pg.controldata import ControlData, ControlState
from qluster_agent.pg.status import DbRole
from qluster_agent.pg.status_reader import StatusReader
from qluster_agent.pg.wal_end import WalEnd


class RecoveringServer:
    """A postmaster that runs; pg_control and the WAL end as a standby still recovering left them."""

    def __init__(self, state: ControlState, receiving: bool) -> None:
        self.running = True
        self.state, self.receiving = state, receiving
        self.wal_end_reads = 0

    def controldata(self) -> ControlData:
        return ControlData(system_identifier=7, state=self.state, checkpoint_lsn=0x3000060, redo_lsn=0x3000028,
                           timeline=4, min_recovery_end_lsn=0x5000000, min_recovery_end_timeline=4,
                           wal_log_hints=True, data_checksums=False)

    def wal_receiver_running(self) -> bool:
        return self.receiving

    def wal_end(self, control: ControlData) -> WalEnd:
        self.wal_end_reads += 1
        return WalEnd(4, 0x4A00000)


def reader(tmp_path: Path, server: RecoveringServer) -> StatusReader:
    datadir = tmp_path / "data"
    (datadir / "global").mkdir(parents=True)
    (datadir / "PG_VERSION").write_text("15\n")
    (datadir / "global" / "pg_control").write_bytes(b"\0" * 8192)
    (datadir / "pg_wal").mkdir()
    options = SimpleNamespace(socket_dir=str(tmp_path), port=1, superuser="qhb", dbname="postgres", datadir=datadir)
    return StatusReader(options, server)


def test_a_standby_not_yet_consistent_and_receiving_nothing_reports_its_wal_on_disk(tmp_path):
    server = RecoveringServer(ControlState.IN_ARCHIVE_RECOVERY, receiving=False)
    status = reader(tmp_path, server).read(0)
    assert status.role is DbRole.UNAVAILABLE and status.error
    assert status.wal_mark is not None and (status.wal_mark.timeline, status.wal_mark.lsn) == (4, 0x4A00000)
    reader_again = reader(tmp_path / "again", server)
    reader_again.read(0)
    reader_again.read(0)
    assert server.wal_end_reads == 2  # once per reader: the same WAL is not dumped every cycle


def test_a_server_still_starting_from_a_clean_shutdown_reports_its_wal_on_disk(tmp_path):
    # The chaos run: a former primary started in recovery waits for a segment before it even
    # writes 'in archive recovery' to pg_control; it takes no query and receives nothing.
    server = RecoveringServer(ControlState.SHUT_DOWN, receiving=False)
    assert reader(tmp_path, server).read(0).wal_mark is not None


def test_a_server_that_may_be_receiving_or_is_a_primary_has_no_position(tmp_path):
    for server in (RecoveringServer(ControlState.IN_ARCHIVE_RECOVERY, receiving=True),
                   RecoveringServer(ControlState.IN_PRODUCTION, receiving=False)):
        status = reader(tmp_path / server.state.name / str(server.receiving), server).read(0)
        assert status.role is DbRole.UNAVAILABLE and status.wal_mark is None, server.state
        assert server.wal_end_reads == 0
