"""The controller against real PostgreSQL 15: one shared set of instances, in story order.

The tests build on each other the way a cluster's life does (bootstrap, clone, sync commit,
archive, failover, PGDATA loss); each checks its own outcome, and the module fixture stops
every server at the end whatever happened.
"""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import replace

import psycopg2
import pytest

from qluster_agent.ha.decide import decide
from qluster_agent.ha.decision import Action
from qluster_agent.ha.view import ClusterView, Member, MemberRole
from qluster_agent.pg.control_file import read_control_file
from qluster_agent.pg.controldata import ControlState, parse_controldata
from qluster_agent.pg.controller import PgController
from qluster_agent.pg.conninfo import Endpoint
from qluster_agent.pg.datadir import datadir_state, rewind_marker
from qluster_agent.pg.commands import StopMode
from qluster_agent.pg.errors import PgError
from qluster_agent.pg.executor import LongOperationExecutor
from qluster_agent.pg.files import remove_contents
from qluster_agent.pg.leader_probe import LeaderIdentity
from qluster_agent.pg.operation import LongOperation
from qluster_agent.pg.status import DataDirState, DbRole
from qluster_agent.pg.sync import ASYNCHRONOUS, SyncStandbys

from pg_lab_support import FIRST_PORT, OS_USER, TEMPLATE_CONF, Lab, wait_until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def node1(lab: Lab) -> PgController:
    controller = lab.node(1)
    controller.bootstrap()
    lab.query(controller, "CREATE TABLE story (id int PRIMARY KEY, what text)")
    return controller


@pytest.fixture(scope="module")
def node2(lab: Lab, node1: PgController) -> PgController:
    controller = lab.node(2)
    controller.clone_from(lab.endpoint(node1))
    wait_until(lambda: controller.status().streaming, what="node 2 to stream")
    return controller


def insert(lab: Lab, node: PgController, row_id: int, what: str) -> None:
    lab.query(node, "INSERT INTO story VALUES (%s, %s)", (row_id, what))


def has_row(lab: Lab, node: PgController, row_id: int) -> bool:
    try:
        return bool(lab.query(node, "SELECT 1 FROM story WHERE id = %s", (row_id,)))
    except psycopg2.Error:
        return False


def archived_count(node: PgController) -> int:
    archiver = node.status().archiver
    return archiver.archived_count if archiver else 0


def follower_view(me: int, leader: int, *nodes: PgController) -> ClusterView:
    members = tuple(
        Member(n.options.member_id, MemberRole.VOTER, "127.0.0.1", n.options.port, 1, n.options.member_id == leader)
        for n in nodes
    )
    return ClusterView(my_id=me, is_leader=False, has_quorum=False, leader_id=leader, members=members)


def test_bootstrap_makes_a_writable_primary(lab: Lab, node1: PgController) -> None:
    status = node1.status()
    assert status.role is DbRole.PRIMARY
    assert status.timeline == 1
    assert status.current_lsn and status.current_lsn > 0
    assert status.synchronous_standby_names == ""
    # The operator's template became the main file, plus our include line at its end.
    main_conf = (node1.options.datadir / "postgresql.conf").read_text()
    assert main_conf.startswith(TEMPLATE_CONF)
    assert main_conf.rstrip().endswith("include_if_exists = 'qluster.auto.conf'")
    assert lab.query(node1, "SHOW cluster_name") == [("qluster-test",)]
    assert lab.query(node1, "SHOW wal_log_hints") == [("on",)]  # from our include file


def nice_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[16])  # field 19 of stat(5); the list starts at field 3


def test_the_server_runs_nicer_than_its_agent(lab: Lab, node1: PgController) -> None:
    # A database saturating the host must not starve the agent's heartbeats: the postmaster and
    # every backend run postgres.nice (10) nicer than the agent that started them.
    pid = int((node1.options.datadir / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=True).stdout.split()
    assert children
    expected = min(19, os.nice(0) + node1.options.nice)
    assert node1.options.nice == 10
    assert {nice_of(p) for p in [pid, *map(int, children)]} == {expected}


def test_clone_streams_and_replicates_a_row(lab: Lab, node1: PgController, node2: PgController) -> None:
    insert(lab, node1, 1, "written on node 1")
    wait_until(lambda: has_row(lab, node2, 1), what="row 1 on node 2")
    replica = node2.status()
    assert replica.role is DbRole.REPLICA
    assert replica.upstream == lab.endpoint(node1)
    assert replica.system_identifier == node1.status().system_identifier
    assert (node2.options.datadir / "standby.signal").exists()
    rows = node1.status().replication
    assert [(r.application_name, r.state) for r in rows] == [("qluster_2", "streaming")]


def test_synchronous_commit_waits_for_the_standby(lab: Lab, node1: PgController, node2: PgController) -> None:
    node1.set_synchronous_standbys(SyncStandbys(1, ("qluster_2",)))
    wait_until(lambda: [r.sync_state for r in node1.status().replication] == ["quorum"], what="quorum sync state")
    assert node1.status().synchronous_standby_names == 'ANY 1 ("qluster_2")'

    node2.stop()
    acknowledged = threading.Event()
    committer = threading.Thread(
        target=lambda: (insert(lab, node1, 2, "needs the standby"), acknowledged.set()), daemon=True
    )
    committer.start()
    # The commit is flushed locally but not acknowledged until a standby confirms it.
    wait_until(
        lambda: lab.query(node1, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")[0][0],
        timeout_s=10,
        what="the commit to wait for the standby",
    )
    assert not acknowledged.is_set()

    node2.start_as_replica(lab.endpoint(node1))
    assert acknowledged.wait(20), "the commit should be acknowledged once the standby is back"
    # What a vote is answered with, read at that moment: the standby that confirmed the commit
    # holds at least all the WAL the primary had flushed by then.
    committed = node1.wal_held_now()
    assert committed is not None and node2.wal_held_now() >= committed - 8192
    node1.set_synchronous_standbys(ASYNCHRONOUS)
    assert node1.status().synchronous_standby_names == ""


def test_archive_command_archives_switched_segments(lab: Lab, node1: PgController) -> None:
    walfile = lab.query(node1, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
    wait_until((lab.archive / walfile).exists, what=f"{walfile} in the archive")
    # The archiver reports to pg_stat_archiver just after the command succeeded.
    wait_until(lambda: archived_count(node1) >= 1, what="pg_stat_archiver to count it")
    archiver = node1.status().archiver
    assert archiver is not None and not archiver.failing


def test_a_replica_restores_from_the_archive_alone(lab: Lab, node1: PgController) -> None:
    node3 = lab.node(3)
    # The way the HA loop runs a clone: in the executor, reporting progress meanwhile.
    executor = LongOperationExecutor()
    assert executor.submit(LongOperation.BASE_BACKUP, lambda cancel: node3.clone_from(lab.endpoint(node1), cancel))
    view = replace(follower_view(3, 1, node1, node3), operation=LongOperation.BASE_BACKUP)
    assert decide(view, node3.status(), now=0.0).action is Action.REPORT_IN_PROGRESS
    assert executor.wait(60)
    finished = executor.take_finished()
    assert finished is not None and finished.succeeded, finished
    node3.stop()
    node3.start_as_replica(None)  # no primary_conninfo: restore_command is its only source
    insert(lab, node1, 4, "via the archive")
    lab.query(node1, "SELECT pg_switch_wal()")
    wait_until(lambda: has_row(lab, node3, 4), what="row 4 on the archive-only replica")
    assert node3.status().streaming is False
    node3.stop()


def test_failover_then_rewind_the_old_primary(lab: Lab, node1: PgController, node2: PgController) -> None:
    insert(lab, node1, 5, "before failover")
    wait_until(lambda: has_row(lab, node2, 5), what="row 5 on node 2")

    node2.promote()
    assert node2.status().role is DbRole.PRIMARY
    assert node2.status().timeline == 2
    # Split brain for a moment: node 1 writes something node 2 never gets.
    insert(lab, node1, 6, "lost on the old timeline")

    node1.demote()
    # It returns at the shutdown checkpoint: nothing can commit any more, while the postmaster
    # may still be archiving its last segment.
    shutting = node1.status()
    assert shutting.role in (DbRole.UNAVAILABLE, DbRole.STOPPED)
    assert shutting.control_state is ControlState.SHUT_DOWN
    assert shutting.wal_mark is not None and shutting.wal_mark.timeline == 1  # from pg_control
    with pytest.raises(psycopg2.Error):
        insert(lab, node1, 99, "after the demote")
    wait_until(lambda: node1.status().role is DbRole.STOPPED, what="node 1's postmaster to exit")
    stopped = node1.status()
    assert stopped.control_state is ControlState.SHUT_DOWN
    # Stopped, it votes with the end of its WAL: the end of that same shutdown checkpoint record.
    assert stopped.wal_mark.timeline == shutting.wal_mark.timeline
    assert 0 < stopped.wal_mark.lsn - shutting.wal_mark.lsn <= 128
    decision = decide(follower_view(1, 2, node1, node2), stopped, now=0.0)
    assert decision.action is Action.REWIND_OR_RECLONE
    assert decision.leader == lab.endpoint(node2)

    # A rewind that fails leaves its marker: the data directory then reads as not usable, and
    # is re-cloned rather than started (pg_rewind may have changed files before it failed).
    assert node1.rewind_from(Endpoint("127.0.0.1", FIRST_PORT + 50)) is False
    assert node1.status().datadir is DataDirState.INVALID
    assert decide(follower_view(1, 2, node1, node2), node1.status(), now=0.0).action is Action.RECLONE_FROM_LEADER
    assert node1.rewind_from(lab.endpoint(node2)) is True
    assert not rewind_marker(node1.options.datadir).exists()
    wait_until(lambda: node1.status().streaming, what="rewound node 1 to stream from node 2")
    insert(lab, node2, 7, "after failover")
    wait_until(lambda: has_row(lab, node1, 7), what="row 7 on node 1")
    assert not has_row(lab, node1, 6)
    assert node1.status().timeline == 2


def test_pgdata_deleted_on_the_primary_then_reclone(lab: Lab, node1: PgController, node2: PgController) -> None:
    # Seed 003's drill: the primary (now node 2) loses its data directory.
    insert(lab, node2, 8, "before the disk died")
    wait_until(lambda: has_row(lab, node1, 8), what="row 8 on node 1")
    assert node2.status().role is DbRole.PRIMARY  # the controller has seen its postmaster
    remove_contents(node2.options.datadir)  # the disk dies under the running server
    gone = node2.status()
    assert gone.datadir is DataDirState.EMPTY
    # Usually still running; it may also PANIC on its own at once (e.g. when it next needs a
    # WAL segment), and then there is nothing left to fence.
    if gone.running:
        leader_view = replace(follower_view(2, 2, node1, node2), is_leader=True, has_quorum=True)
        assert decide(leader_view, gone, now=0.0).action is Action.FENCE
    node2.fence()  # no postmaster.pid left for pg_ctl: the remembered postmaster gets SIGQUIT
    assert not node2.status().running

    node1.promote()
    insert(lab, node1, 9, "on the new primary")

    assert node2.rewind_from(lab.endpoint(node1)) is False
    decision = decide(follower_view(2, 1, node1, node2), node2.status(), now=0.0)
    assert decision.action is Action.CLONE_FROM_LEADER
    node2.wipe()
    node2.clone_from(lab.endpoint(node1))
    wait_until(lambda: node2.status().streaming, what="re-cloned node 2 to stream")
    for row_id in (8, 9):
        assert has_row(lab, node2, row_id)


def test_a_replica_follows_a_new_upstream_without_restart(lab: Lab, node1: PgController, node2: PgController) -> None:
    # node 1 is the primary now and node 2 its replica. node 3 (stale since the archive test)
    # is rebuilt from the replica, streams from it (cascading), then is told to follow node 1.
    node3 = next(c for c in lab.controllers if c.options.member_id == 3)
    node3.reclone_from(lab.endpoint(node2))
    wait_until(lambda: node3.status().streaming, what="node 3 streaming from node 2")
    before = node3.status()
    assert before.upstream == lab.endpoint(node2)

    decision = decide(follower_view(3, 1, node1, node2, node3), before, now=0.0)
    assert decision.action is Action.FOLLOW_NEW_LEADER
    node3.follow(decision.leader)
    wait_until(lambda: node3.status().upstream == lab.endpoint(node1), what="node 3 to read its new upstream")
    # The walreceiver restarts on the reload; node 1 then lists node 3 among its standbys.
    wait_until(
        lambda: "qluster_3" in [r.application_name for r in node1.status().replication if r.state == "streaming"],
        what="node 1 to stream to node 3",
    )
    insert(lab, node1, 10, "after the switch")
    wait_until(lambda: has_row(lab, node3, 10), what="row 10 on node 3")
    # It streams without a temporary slot until told another replica streams (node 2 does).
    assert node3.status().temp_slot_deferred
    assert temp_slots(lab, node1) == []  # node 2's own slot is not counted
    members = tuple(replace(m, streaming=m.id == 2) for m in follower_view(3, 1, node1, node2, node3).members)
    decision = decide(ClusterView(my_id=3, is_leader=False, has_quorum=False, leader_id=1, members=members),
                      node3.status(), now=0.0)
    assert decision.action is Action.RESTORE_TEMP_SLOT
    node3.restore_temp_slot(decision.leader)
    wait_until(lambda: not node3.status().temp_slot_deferred, what="node 3 to load the setting")
    wait_until(lambda: temp_slots(lab, node1) != [], what="node 3's walreceiver to hold a temporary slot on node 1")
    insert(lab, node1, 20, "with the slot back")
    wait_until(lambda: has_row(lab, node3, 20), what="row 20 on node 3")


def temp_slots(lab: Lab, node: PgController) -> list[tuple]:
    """The temporary slots node 3's walreceiver holds on `node`."""
    return lab.query(node, "SELECT s.slot_name FROM pg_replication_slots s JOIN pg_stat_replication r"
                           " ON r.pid = s.active_pid WHERE s.temporary AND r.application_name = 'qluster_3'")


def test_a_replica_forked_from_the_new_leader_stalls_and_is_rewound(
    lab: Lab, node1: PgController, node2: PgController
) -> None:
    # node 3 receives a row that node 2 (stopped) never gets; then node 1 dies and node 2 leads.
    node3 = next(c for c in lab.controllers if c.options.member_id == 3)
    node2.stop()
    insert(lab, node1, 11, "only node 3 has this")
    wait_until(lambda: has_row(lab, node3, 11), what="row 11 on node 3")
    node1.fence()
    node2.start_as_replica(None)
    node2.promote()

    node3.follow(lab.endpoint(node2))
    # Its walreceiver now fails over and over: node 2's new timeline forked before node 3's position.
    wait_until(
        lambda: "forked off current database system timeline" in node3.options.postmaster_log.read_text(),
        what="node 3 to find it cannot follow node 2",
    )
    stuck = node3.status()
    assert stuck.role is DbRole.REPLICA and not stuck.streaming and stuck.stalled_since is not None
    view = follower_view(3, 2, node1, node2, node3)
    assert decide(view, stuck, now=stuck.stalled_since + 1).action is Action.NOTHING
    decision = decide(view, stuck, now=stuck.stalled_since + 31)
    assert decision.action is Action.REWIND_OR_RECLONE

    assert node3.rewind_from(decision.leader) is True
    wait_until(lambda: node3.status().streaming, what="rewound node 3 to stream from node 2")
    insert(lab, node2, 12, "on node 2's timeline")
    wait_until(lambda: has_row(lab, node3, 12), what="row 12 on node 3")
    assert not has_row(lab, node3, 11)


def test_a_reclone_never_wipes_data_the_leader_cannot_replace(lab: Lab, node2: PgController) -> None:
    # node 2 is the primary and node 3 streams from it (previous test).
    node3 = next(c for c in lab.controllers if c.options.member_id == 3)
    insert(lab, node2, 13, "must survive")
    wait_until(lambda: has_row(lab, node3, 13), what="row 13 on node 3")

    nobody = Endpoint("127.0.0.1", FIRST_PORT + 50)  # no server listens there
    with pytest.raises(PgError, match="does not answer"):
        node3.reclone_from(nobody)
    with pytest.raises(PgError, match="does not answer"):
        node3.rewind_or_reclone(nobody)
    assert node3.status().streaming and has_row(lab, node3, 13)

    # A leader that answers but is another database system (say, one initialised by mistake).
    stranger = PgController(node3.options, identify=lambda leader: LeaderIdentity(12345, 1))
    with pytest.raises(PgError, match="different databases"):
        stranger.reclone_from(lab.endpoint(node2))
    assert node3.status().streaming and has_row(lab, node3, 13)


def test_a_standbys_position_is_read_from_another_node(lab: Lab, node2: PgController) -> None:
    # What a switchover's old leader asks its target: how far its flushed WAL goes, directly.
    node3 = next(c for c in lab.controllers if c.options.member_id == 3)
    insert(lab, node2, 15, "position")
    wait_until(lambda: has_row(lab, node3, 15), what="row 15 on node 3")
    primary = node2.status()
    read = node2.position_of(lab.endpoint(node3))
    assert read is not None and read.timeline == primary.timeline
    assert read.lsn >= node3.status().replayed_lsn > 0
    assert node2.position_of(Endpoint("127.0.0.1", FIRST_PORT + 50)) is None  # nobody listens
    # Whether WAL may be arriving is read from the server's processes (a vote needs it when the
    # server takes no query): the streaming standby has a walreceiver, the primary none.
    assert node3.wal_receiver_running() and not node2.wal_receiver_running()


def test_pg_control_read_directly_matches_pg_controldata(lab: Lab, node1: PgController, node2: PgController) -> None:
    # A running primary, a running standby, and whatever the earlier tests left stopped.
    for node in lab.controllers:
        datadir = node.options.datadir
        if datadir_state(datadir) is not DataDirState.VALID:
            continue
        printed = subprocess.run([node.options.tools.controldata, str(datadir)], capture_output=True, text=True,
                                 env={**os.environ, "LANG": "C", "LC_ALL": "C"}, check=True).stdout
        assert read_control_file(datadir) == parse_controldata(printed), f"node {node.options.member_id}"


def test_a_fenced_primary_votes_with_its_end_of_wal(lab: Lab, node2: PgController) -> None:
    # node 2 is the primary. Enough writes to carry its WAL into another segment, well past its
    # last checkpoint; then the immediate stop of a fence, which writes no checkpoint.
    lab.query(node2, "INSERT INTO story SELECT g, repeat('x', 200) FROM generate_series(1000, 120000) g")
    insert(lab, node2, 14, "acknowledged just before the fence")
    before = node2.status()
    written = before.current_lsn
    node2.fence()
    fenced = node2.status()
    assert fenced.role is DbRole.STOPPED
    assert fenced.checkpoint_lsn < written - 16 * 1024 * 1024  # the checkpoint alone would under-report
    assert fenced.wal_position == written
    assert fenced.wal_mark.timeline == before.timeline


def test_a_stale_pid_file_naming_a_recycled_pid_neither_looks_running_nor_blocks_the_start(
    lab: Lab, node2: PgController
) -> None:
    # After a reboot (or a lab host's restart) pids count from 1 again: the pid file left by a
    # killed server can name a live process of the database's own user. node 2 is stopped (fenced
    # above); the server itself would refuse to start while that pid answers kill(0).
    assert node2.status().role is DbRole.STOPPED
    pid_file = node2.options.datadir / "postmaster.pid"
    recycled = subprocess.Popen(["sleep", "60"], user=OS_USER, cwd="/")
    try:
        pid_file.write_text(f"{recycled.pid}\n{node2.options.datadir}\n")
        assert node2.status().role is DbRole.STOPPED
        node2.start_as_replica(None)  # replays from the archive; a stale file would stop it
        wait_until(lambda: node2.status().role is DbRole.REPLICA, what="node 2 to run again")
        assert int(pid_file.read_text().split()[0]) != recycled.pid
    finally:
        recycled.kill()
        recycled.wait()
    node2.stop(StopMode.IMMEDIATE)


def test_a_new_database_is_never_created_onto_an_archive_holding_wal(lab: Lab, node1: PgController) -> None:
    # The archive holds the story's WAL by now: a second cluster initialised onto it would take
    # those timeline histories for its own at its first promotion.
    late = lab.node(9)
    with pytest.raises(PgError, match=r"WAL archive .* already holds \d+ WAL file"):
        late.bootstrap()
    assert datadir_state(late.options.datadir) is DataDirState.EMPTY
