"""The HA loop's kept session against real PostgreSQL 15 (issue 22, item 5): one session for many
reads, and every change of the server read as a new connection would read it: a restart, a stop,
a promote, a demote, a session the server ended, a server that stopped answering altogether."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from qluster_agent.pg.commands import StopMode
from qluster_agent.pg.controller import PgController
from qluster_agent.pg.datadir import postmaster_pid
from qluster_agent.pg.query import CLIENT_GRACE_S
from qluster_agent.pg.status import DbRole

from pg_lab_support import OS_USER, PG_BIN, Lab, wait_until

pytestmark = pytest.mark.timeout(180)

# Member ids (and so ports) of their own: the other modules' labs use 1-9.
PRIMARY_ID = 21
STANDBY_ID = 22


@pytest.fixture(scope="module")
def primary(lab: Lab) -> PgController:
    controller = lab.node(PRIMARY_ID)
    controller.bootstrap()
    lab.query(controller, "CREATE TABLE t (v int)")
    return controller


def opened(controller: PgController) -> int:
    return controller.status_session.opened


def pg_ctl(controller: PgController, *args: str) -> None:
    # The server's output to its log: a server started with our pipes would keep them open.
    subprocess.run(["runuser", "-u", OS_USER, "--", str(PG_BIN / "pg_ctl"), "-D", str(controller.options.datadir),
                    "-l", str(controller.options.postmaster_log), *args],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def server_pids(controller: PgController) -> list[int]:
    postmaster = postmaster_pid(controller.options.datadir)
    assert postmaster is not None
    children = []
    for thread in os.listdir(f"/proc/{postmaster}/task"):
        with open(f"/proc/{postmaster}/task/{thread}/children", encoding="ascii") as stream:
            children.extend(int(pid) for pid in stream.read().split())
    return [postmaster, *children]


def test_many_reads_share_one_session(primary: PgController) -> None:
    first = primary.status()
    before = opened(primary)
    for index in range(5):
        status = primary.status()
        assert status.role is DbRole.PRIMARY and status.current_lsn is not None, index
    assert opened(primary) == before
    assert first.system_identifier == status.system_identifier


def test_changed_since_asks_a_primary_nothing_even_after_a_write(lab: Lab, primary: PgController) -> None:
    status = primary.status()
    before = opened(primary)

    def last_statement_started() -> list:
        return lab.query(primary, "SELECT query_start FROM pg_stat_activity WHERE application_name = 'qluster-agent'")

    asked = last_statement_started()
    lab.query(primary, "INSERT INTO t VALUES (1)")
    assert not primary.changed_since(status)  # its WAL moved, but nothing waits on that
    assert last_statement_started() == asked  # and its server was not asked
    assert opened(primary) == before


def test_a_restart_between_two_reads_is_read_over_a_new_session(primary: PgController) -> None:
    before_pid = postmaster_pid(primary.options.datadir)
    status = primary.status()
    before = opened(primary)
    pg_ctl(primary, "restart", "-m", "fast", "-w")
    assert postmaster_pid(primary.options.datadir) != before_pid
    assert primary.changed_since(status)
    assert primary.status().role is DbRole.PRIMARY
    assert opened(primary) == before + 1


def test_a_session_the_server_ended_is_replaced_at_once(lab: Lab, primary: PgController) -> None:
    assert primary.status().role is DbRole.PRIMARY
    before = opened(primary)
    ended = lab.query(primary, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE application_name = 'qluster-agent'")
    assert ended == [(True,)]
    status = primary.status()
    assert status.role is DbRole.PRIMARY and status.error is None
    assert opened(primary) == before + 1


def test_a_kept_session_to_a_stopped_server_reads_stopped(primary: PgController) -> None:
    status = primary.status()
    assert status.role is DbRole.PRIMARY
    pg_ctl(primary, "stop", "-m", "fast", "-w")
    wait_until(lambda: postmaster_pid(primary.options.datadir) is None, what="the postmaster to exit")
    assert primary.changed_since(status)
    stopped = primary.status()
    assert stopped.role is DbRole.STOPPED and stopped.in_recovery is None
    primary.start_as_replica(None)  # a stopped leader starts in recovery and is promoted
    wait_until(lambda: primary.status().role is DbRole.REPLICA, what="the server to take queries")
    primary.promote()
    assert primary.status().role is DbRole.PRIMARY


def test_a_server_that_stops_answering_reads_unavailable_within_the_bounds(primary: PgController) -> None:
    status = primary.status()
    assert status.role is DbRole.PRIMARY
    pids = server_pids(primary)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        frozen = primary.status()
        took = time.monotonic() - started
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert frozen.role is DbRole.UNAVAILABLE and frozen.error, frozen
    # One statement's bound, then no second wait on a new session: the server did not answer.
    bound = primary.status_session.connection.statement_timeout_ms / 1000 + CLIENT_GRACE_S
    assert bound - 0.5 < took < bound + 1.5, took
    wait_until(lambda: primary.status().role is DbRole.PRIMARY, what="the server to answer again")


@pytest.fixture(scope="module")
def standby(lab: Lab, primary: PgController) -> Iterator[PgController]:
    controller = lab.node(STANDBY_ID)
    controller.clone_from(lab.endpoint(primary))
    wait_until(lambda: controller.status().streaming, what="the standby to stream")
    yield controller


def test_a_standbys_glance_sees_its_wal_move(lab: Lab, primary: PgController, standby: PgController) -> None:
    status = standby.status()
    assert status.role is DbRole.REPLICA and status.streaming
    assert not standby.changed_since(status)
    lab.query(primary, "INSERT INTO t VALUES (2)")
    # What it votes with moved: the HA loop must read it within a glance.
    wait_until(lambda: standby.changed_since(status), what="the standby's glance to see the new WAL")


def test_a_promote_is_read_over_the_same_session(lab: Lab, primary: PgController, standby: PgController) -> None:
    status = standby.status()
    assert status.role is DbRole.REPLICA and status.streaming
    before = opened(standby)
    # The old primary goes first, as in a failover: the standby's streaming ends.
    primary.fence()
    wait_until(lambda: standby.changed_since(status), what="the standby's glance to see streaming end")
    standby.promote()
    promoted = standby.status()
    assert promoted.role is DbRole.PRIMARY and promoted.timeline == status.timeline + 1
    assert standby.changed_since(status)
    assert opened(standby) == before


def test_a_demote_reads_as_not_a_primary(standby: PgController) -> None:
    status = standby.status()
    assert status.role is DbRole.PRIMARY
    standby.demote()
    assert standby.changed_since(status)
    demoted = standby.status()
    assert demoted.role in (DbRole.UNAVAILABLE, DbRole.STOPPED) and demoted.in_recovery is None
    standby.stop(StopMode.FAST)
    assert standby.status().role is DbRole.STOPPED
