"""A joining node's base backup connects under its own name, not the member's (issue 22, item 6).

pg_basebackup --wal-method=stream holds a temporary slot, so its WAL stream reports flush
positions: under the name listed in synchronous_standby_names the leader counts the unfinished
copy as a synchronous standby, and a switchover would take the node for a streaming replica.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from qluster_agent.agent.switchover import wait_before_demote, why_not_a_target
from qluster_agent.pg.basebackup import Cloner
from qluster_agent.pg.cancel import CancelToken, Cancelled
from qluster_agent.pg.conninfo import Endpoint, application_name_for, parse_conninfo
from qluster_agent.pg.datadir import datadir_state
from qluster_agent.pg.errors import PgError
from qluster_agent.pg.files import FileWriter
from qluster_agent.pg.flavour import POSTGRESQL, Toolset
from qluster_agent.pg.options import PgOptions
from qluster_agent.pg.process import CommandResult, CommandRunner
from qluster_agent.pg.status import DataDirState
from qluster_agent.pg.sync import SyncStandbys

from pg_lab_support import OS_USER, Lab, wait_until

# Ids of their own, so the servers' ports (FIRST_PORT + id - 1) are not those of the other modules.
LEADER_ID = 61
JOINER_ID = 62


class RecordingRunner(CommandRunner):
    def __init__(self) -> None:
        super().__init__(None)
        self.argvs: list[list[str]] = []

    def run(self, argv, **kwargs) -> CommandResult:
        self.argvs.append(list(argv))
        return CommandResult(tuple(argv), 0, "", "")


class ThrottledRunner(CommandRunner):
    """Throttles pg_basebackup's copy of the data directory to its floor (32 kB/s).

    A fresh database then takes minutes to copy: long enough to look at the leader while the
    copy runs. WAL streaming is not throttled.
    """

    def run(self, argv, **kwargs) -> CommandResult:
        if os.path.basename(argv[0]) == "pg_basebackup":
            argv = [*argv, "--max-rate=32k"]
        return super().run(argv, **kwargs)


def options_for(member_id: int, datadir: Path) -> PgOptions:
    return PgOptions(
        flavour=POSTGRESQL,
        tools=Toolset(Path("/usr/lib/postgresql/15/bin"), POSTGRESQL.binaries),
        datadir=datadir,
        port=5432,
        member_id=member_id,
        superuser="postgres",
        replication_user="replicator",
    )


def test_the_clone_connects_under_its_own_name(tmp_path: Path) -> None:
    options = options_for(3, tmp_path / "data")
    runner = RecordingRunner()
    Cloner(options, runner, FileWriter()).clone(Endpoint("10.0.0.1", 5432))
    [argv] = runner.argvs
    [dbname] = [a.removeprefix("--dbname=") for a in argv if a.startswith("--dbname=")]
    assert parse_conninfo(dbname)["application_name"] == "qluster_3_clone"
    assert options.clone_application_name == "qluster_3_clone"
    # The walreceiver keeps the member's name: that one is listed in synchronous_standby_names.
    assert options.application_name == application_name_for(3) == "qluster_3"


@pytest.mark.timeout(120)
def test_a_running_clone_is_no_synchronous_standby_and_no_switchover_target(lab: Lab) -> None:
    leader = lab.node(LEADER_ID)
    leader.bootstrap(SyncStandbys(1, (application_name_for(JOINER_ID),)))
    assert leader.status().synchronous_standby_names == f'ANY 1 ("qluster_{JOINER_ID}")'
    joiner = lab.node(JOINER_ID).options
    cloner = Cloner(joiner, ThrottledRunner(OS_USER), FileWriter(OS_USER))
    cancel = CancelToken()
    outcome: list[object] = []

    def clone() -> None:
        try:
            cloner.clone(lab.endpoint(leader), cancel)
            outcome.append("finished")
        except Cancelled:
            outcome.append("cancelled")
        except PgError as exc:
            outcome.append(exc)

    def clone_stream() -> list[tuple]:
        """The clone's WAL stream on the leader, once it reported a flush position."""
        return lab.query(
            leader,
            "SELECT application_name, sync_state FROM pg_stat_replication"
            " WHERE state = 'streaming' AND flush_lsn IS NOT NULL AND application_name LIKE %s",
            (f"qluster_{JOINER_ID}%",),
        )

    thread = threading.Thread(target=clone, name="clone", daemon=True)
    thread.start()
    try:
        rows = wait_until(lambda: outcome or clone_stream(), what="the clone's WAL stream on the leader")
        assert not outcome, f"the throttled clone ended before it could be looked at: {outcome}"
        # The copy itself is still going on: its other connection sends the data directory.
        assert lab.query(leader, "SELECT count(*) FROM pg_stat_replication WHERE state = 'backup'") == [(1,)]
        status = leader.status()
        assert why_not_a_target(JOINER_ID, status, None) is not None
        assert wait_before_demote(status, JOINER_ID) is not None
        assert rows == [(f"qluster_{JOINER_ID}_clone", "async")]
    finally:
        cancel.cancel()
        thread.join(60)
    assert outcome == ["cancelled"]
    assert datadir_state(joiner.datadir) is DataDirState.EMPTY
