"""Decision tables: (cluster view, database status) -> (action, words in the reason).

Plain data in, plain data out: no patching, no clock, no database.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from qluster_agent.ha.decide import LEADER_UNAVAILABLE_GRACE_S, REPLICA_UNAVAILABLE_GRACE_S, decide
from qluster_agent.ha.decision import SWITCHOVER_SESSION_GRACE, Action
from qluster_agent.ha.view import ClusterView, Member, MemberRole
from qluster_agent.pg.controldata import ControlState
from qluster_agent.pg.conninfo import Endpoint
from qluster_agent.pg.operation import LongOperation
from qluster_agent.pg.status import DataDirState, PgStatus
from qluster_agent.pg.sync import SyncStandbys

N1 = Endpoint("10.77.0.1", 5432)
N2 = Endpoint("10.77.0.2", 5432)
MEMBERS = (
    Member(1, MemberRole.VOTER, "10.77.0.1", 5432, wal_position=100),
    Member(2, MemberRole.VOTER, "10.77.0.2", 5432, wal_position=100),
    Member(3, MemberRole.VOTER, "10.77.0.3", 5432, wal_position=90),
    Member(9, MemberRole.OBSERVER, "10.77.0.9"),
)
FRESH = tuple(replace(m, wal_position=None) for m in MEMBERS)
SYNC_3 = 'ANY 1 ("qluster_2", "qluster_3")'


def leader(me: int = 1, **kw) -> ClusterView:
    return ClusterView(
        **{"my_id": me, "is_leader": True, "has_quorum": True, "leader_id": me, "members": MEMBERS, **kw}
    )


def follower(me: int = 2, leader_id: int | None = 1, leader_db_primary: bool = True, **kw) -> ClusterView:
    """A follower's view; the leader's beacon says its database runs as the primary unless told otherwise."""
    members = tuple(
        replace(m, db_primary=leader_db_primary and m.id == leader_id) for m in kw.pop("members", MEMBERS)
    )
    return ClusterView(
        **{"my_id": me, "is_leader": False, "has_quorum": False, "leader_id": leader_id, "members": members, **kw}
    )


EMPTY = PgStatus(datadir=DataDirState.EMPTY, running=False, accepting=False)
INVALID = PgStatus(datadir=DataDirState.INVALID, running=False, accepting=False)
PRIMARY = PgStatus(
    datadir=DataDirState.VALID,
    running=True,
    accepting=True,
    in_recovery=False,
    timeline=1,
    current_lsn=100,
    synchronous_standby_names=SYNC_3,
)
REPLICA = PgStatus(
    datadir=DataDirState.VALID,
    running=True,
    accepting=True,
    in_recovery=True,
    timeline=1,
    received_lsn=100,
    replayed_lsn=100,
    streaming=True,
    upstream=N1,
)
STOPPED_REPLICA = PgStatus(
    datadir=DataDirState.VALID, running=False, accepting=False, control_state=ControlState.SHUT_DOWN_IN_RECOVERY
)
STOPPED_PRIMARY = replace(STOPPED_REPLICA, control_state=ControlState.SHUT_DOWN)
CRASHED_PRIMARY = replace(STOPPED_REPLICA, control_state=ControlState.IN_PRODUCTION)
STARTING = PgStatus(datadir=DataDirState.VALID, running=True, accepting=False)

CASES = [
    # --- bootstrap (seed 000 §7) ---
    ("first leader initialises", leader(members=FRESH), EMPTY, Action.BOOTSTRAP, "initialising"),
    (
        "a leader never initialises a second database once one was recorded",
        leader(members=FRESH, database_system=42),
        EMPTY,
        Action.STEP_DOWN,
        "cluster's database (system 42) already exists",
    ),
    (
        "leader with marker never initdbs",
        leader(members=FRESH, add_node_marker=True),
        EMPTY,
        Action.STEP_DOWN,
        "add_node marker",
    ),
    ("leader without data while others have it", leader(), EMPTY, Action.STEP_DOWN, "other members hold data"),
    (
        "follower without marker does not initdb",
        follower(members=FRESH, leader_id=None),
        EMPTY,
        Action.WAIT_FOR_LEADER,
        "no leader",
    ),
    (
        "marker and leader: clone",
        follower(add_node_marker=True),
        EMPTY,
        Action.CLONE_FROM_LEADER,
        "cloning it from node 1",
    ),
    (
        "a joiner does not clone a database still being created (its roles and passwords come last)",
        follower(add_node_marker=True, members=tuple(replace(m, db_bootstrapping=m.id == 1) for m in MEMBERS)),
        EMPTY,
        Action.NOTHING,
        "the database of node 1 is still being created; waiting for it",
    ),
    (
        "marker without leader: wait and say so",
        follower(leader_id=None, add_node_marker=True),
        EMPTY,
        Action.WAIT_FOR_LEADER,
        "I carry the add_node marker but there is no leader",
    ),
    (
        "leader address unknown",
        follower(leader_id=7, add_node_marker=True),
        EMPTY,
        Action.WAIT_FOR_LEADER,
        "address of node 7 is unknown",
    ),
    (
        "marker removed only once streaming",
        follower(add_node_marker=True),
        REPLICA,
        Action.REMOVE_ADD_NODE_MARKER,
        "now streaming",
    ),
    (
        "marker kept while not streaming",
        follower(add_node_marker=True),
        replace(REPLICA, streaming=False),
        Action.NOTHING,
        "not streaming yet",
    ),
    (
        "stopped clone with marker never streamed",
        follower(add_node_marker=True),
        STOPPED_REPLICA,
        Action.RECLONE_FROM_LEADER,
        "never reached streaming",
    ),
    # --- the leader's database ---
    ("leader nothing to do", leader(), PRIMARY, Action.NOTHING, "I am node 1, the leader with quorum; nothing to do"),
    ("winning leadership promotes", leader(), REPLICA, Action.PROMOTE, "promoting"),
    ("stopped leader database starts in recovery", leader(), STOPPED_PRIMARY, Action.START_AS_REPLICA, "to promote it"),
    (
        "leader whose database cannot start steps down",
        leader(),
        replace(STOPPED_PRIMARY, start_failures=1),
        Action.STEP_DOWN,
        "failed to start",
    ),
    ("leader with unusable data dir steps down", leader(), INVALID, Action.STEP_DOWN, "not a usable database"),
    ("leader waits for a starting database", leader(), STARTING, Action.NOTHING, "accept connections"),
    (
        "leader keeps waiting within the grace",
        leader(),
        replace(STARTING, unavailable_since=100.0 - LEADER_UNAVAILABLE_GRACE_S + 1),
        Action.NOTHING,
        "accept connections",
    ),
    (
        "leader whose database never answers hands over",
        leader(),
        replace(STARTING, unavailable_since=100.0 - LEADER_UNAVAILABLE_GRACE_S),
        Action.STEP_DOWN,
        "has not accepted connections for 60 s; stepping down",
    ),
    (
        "a follower whose database does not answer keeps waiting within the grace",
        follower(),
        replace(STARTING, unavailable_since=100.0 - REPLICA_UNAVAILABLE_GRACE_S + 1),
        Action.NOTHING,
        "accept connections",
    ),
    (
        "a follower whose database never answers is rewound onto the leader",
        follower(),
        replace(STARTING, unavailable_since=100.0 - REPLICA_UNAVAILABLE_GRACE_S),
        Action.REWIND_OR_RECLONE,
        "has not accepted connections for 120 s, so it cannot become consistent on the history of node 1",
    ),
    (
        "... but never while the leader's database is not the primary",
        follower(leader_db_primary=False),
        replace(STARTING, unavailable_since=100.0 - REPLICA_UNAVAILABLE_GRACE_S),
        Action.NOTHING,
        "not running as the primary yet",
    ),
    (
        "... nor without a leader",
        follower(leader_id=None),
        replace(STARTING, unavailable_since=100.0 - REPLICA_UNAVAILABLE_GRACE_S),
        Action.NOTHING,
        "accept connections",
    ),
    (
        "sync standbys brought up to date",
        leader(),
        replace(PRIMARY, synchronous_standby_names=""),
        Action.UPDATE_SYNC_STANDBYS,
        SYNC_3,
    ),
    (
        "async when quorum replication is off",
        leader(quorum_replication=False),
        PRIMARY,
        Action.UPDATE_SYNC_STANDBYS,
        "asynchronous",
    ),
    # --- losing leadership or quorum: stop writes at once ---
    ("leader losing quorum fences", leader(has_quorum=False), PRIMARY, Action.FENCE, "lost quorum"),
    (
        "leader without quorum keeps a replica read-only",
        leader(has_quorum=False),
        REPLICA,
        Action.NOTHING,
        "without quorum",
    ),
    ("writable non-leader with a new leader demotes", follower(), PRIMARY, Action.DEMOTE, "node 1 is the leader"),
    ("writable node with no leader fences", follower(leader_id=None), PRIMARY, Action.FENCE, "fencing"),
    (
        "PGDATA deleted under the running leader",
        leader(),
        replace(PRIMARY, datadir=DataDirState.EMPTY),
        Action.FENCE,
        "without its data directory",
    ),
    (
        "PGDATA deleted under a running replica",
        follower(),
        replace(STARTING, datadir=DataDirState.EMPTY),
        Action.FENCE,
        "without its data directory",
    ),
    ("switchover demotes the leader", leader(switchover_target=2), PRIMARY, Action.DEMOTE, "switchover to node 2"),
    (
        "switchover: leader does not promote",
        leader(switchover_target=2),
        REPLICA,
        Action.NOTHING,
        "switchover to node 2 requested",
    ),
    (
        "switchover: demoted leader stays stopped",
        leader(switchover_target=2),
        STOPPED_PRIMARY,
        Action.NOTHING,
        "out of the primary role",
    ),
    ("switchover to myself is just leadership", leader(switchover_target=1), PRIMARY, Action.NOTHING, "nothing to do"),
    (
        "fencing is not delayed by a running operation",
        leader(has_quorum=False, operation=LongOperation.REWIND),
        PRIMARY,
        Action.FENCE,
        "lost quorum",
    ),
    # --- followers ---
    ("replica streaming", follower(), REPLICA, Action.NOTHING, "streaming from node 1; nothing to do"),
    (
        "replica that switched leaders without a temporary slot waits while it alone streams",
        follower(me=3),
        replace(REPLICA, temp_slot_deferred=True),
        Action.NOTHING,
        "streaming from node 1; nothing to do",
    ),
    (
        "replica that switched leaders gets its temporary slot back once another replica streams",
        follower(me=3, members=tuple(replace(m, streaming=m.id == 2) for m in MEMBERS)),
        replace(REPLICA, temp_slot_deferred=True),
        Action.RESTORE_TEMP_SLOT,
        "another replica streams too",
    ),
    (
        "the leader's own streaming flag does not count as another replica",
        follower(me=3, members=tuple(replace(m, streaming=m.id == 1) for m in MEMBERS)),
        replace(REPLICA, temp_slot_deferred=True),
        Action.NOTHING,
        "nothing to do",
    ),
    (
        "replica follows a new leader",
        follower(leader_id=2, me=3),
        REPLICA,
        Action.FOLLOW_NEW_LEADER,
        "switching to node 2",
    ),
    (
        "replica briefly not streaming waits",
        follower(),
        replace(REPLICA, streaming=False, stalled_since=80.0),
        Action.NOTHING,
        "not streaming yet",
    ),
    (
        "replica forked from the leader is rewound",
        follower(),
        replace(REPLICA, streaming=False, stalled_since=60.0),
        Action.REWIND_OR_RECLONE,
        "neither streamed nor replayed for 40 s",
    ),
    ("replica without leader stays read-only", follower(leader_id=None), REPLICA, Action.NOTHING, "read-only"),
    ("stopped replica starts", follower(), STOPPED_REPLICA, Action.START_AS_REPLICA, "replica of node 1"),
    (
        "stopped replica without leader still starts read-only",
        follower(leader_id=None),
        STOPPED_REPLICA,
        Action.START_AS_REPLICA,
        "read-only replica",
    ),
    (
        "old leader rejoins via rewind",
        follower(leader_id=2, me=1),
        STOPPED_PRIMARY,
        Action.REWIND_OR_RECLONE,
        "rewinding it onto node 2",
    ),
    (
        "crashed old leader rejoins via rewind",
        follower(leader_id=2, me=1),
        CRASHED_PRIMARY,
        Action.REWIND_OR_RECLONE,
        "last ran as a primary",
    ),
    (
        "old leader waits stopped for a leader",
        follower(leader_id=None, me=1),
        STOPPED_PRIMARY,
        Action.WAIT_FOR_LEADER,
        "keeping it stopped",
    ),
    ("PGDATA deleted: re-clone", follower(leader_id=2, me=1), EMPTY, Action.CLONE_FROM_LEADER, "cloning"),
    ("garbage in data dir: re-clone", follower(), INVALID, Action.RECLONE_FROM_LEADER, "not a usable database"),
    (
        "replica that keeps failing to start is rebuilt",
        follower(),
        replace(STOPPED_REPLICA, start_failures=2),
        Action.REWIND_OR_RECLONE,
        "failed to start 2 times",
    ),
    ("follower waits for a starting database", follower(), STARTING, Action.NOTHING, "accept connections"),
    # --- nothing is rewound, re-cloned or wiped while the leader's database is down ---
    (
        "replica of a leader whose database is down is not rewound",
        follower(leader_db_primary=False),
        replace(REPLICA, streaming=False, stalled_since=10.0),
        Action.NOTHING,
        "database of node 1 is not running as the primary yet",
    ),
    (
        "old leader waits for the new leader's database before rewinding",
        follower(leader_id=2, me=1, leader_db_primary=False),
        STOPPED_PRIMARY,
        Action.NOTHING,
        "last ran as a primary, but the database of node 2 is not running",
    ),
    (
        "garbage in data dir is kept while the leader's database is down",
        follower(leader_db_primary=False),
        INVALID,
        Action.NOTHING,
        "not a usable database, but the database of node 1",
    ),
    (
        "failing replica is not rebuilt from a leader without a database",
        follower(leader_db_primary=False),
        replace(STOPPED_REPLICA, start_failures=2),
        Action.NOTHING,
        "waiting for it",
    ),
    (
        "empty follower waits for the leader's database to clone",
        follower(leader_db_primary=False),
        EMPTY,
        Action.NOTHING,
        "data directory is empty, but the database of node 1",
    ),
    # --- long operations and observers ---
    (
        "base backup in progress",
        follower(operation=LongOperation.BASE_BACKUP, operation_started_at=88.0),
        EMPTY,
        Action.REPORT_IN_PROGRESS,
        "base backup in progress for 12 s",
    ),
    (
        "failed clone is retried after a pause",
        follower(add_node_marker=True, retry_not_before=105.0, last_failure="base backup failed: connection refused"),
        EMPTY,
        Action.NOTHING,
        "(base backup failed: connection refused), will clone from leader after a pause",
    ),
    (
        "pause over: clone again",
        follower(add_node_marker=True, retry_not_before=99.0),
        EMPTY,
        Action.CLONE_FROM_LEADER,
        "cloning",
    ),
    (
        # PROMOTE runs inline but waits out the pause as it always did (ha/decision.py).
        "a new leader promotes after the pause of a failed long operation",
        leader(retry_not_before=200.0),
        REPLICA,
        Action.NOTHING,
        "will promote after a pause",
    ),
    (
        "a pause never delays fencing",
        leader(has_quorum=False, retry_not_before=200.0),
        PRIMARY,
        Action.FENCE,
        "lost quorum",
    ),
    ("observer has no database", follower(me=9), EMPTY, Action.NOTHING, "observer"),
    # --- maintenance mode: while paused nothing is done to any database, whatever it runs as ---
    ("paused: the leader's primary is left as it is", leader(paused=True), PRIMARY, Action.NOTHING,
     "the leader; the cluster is paused (maintenance mode): my database is primary, left as it is"),
    ("paused: the leader's database stopped by hand is not started", leader(paused=True), STOPPED_PRIMARY,
     Action.NOTHING, "my database is stopped, left as it is"),
    ("paused: a leader does not promote its replica", leader(paused=True), REPLICA, Action.NOTHING, "paused"),
    ("paused: a leader whose database never starts does not step down",
     leader(paused=True), replace(STOPPED_PRIMARY, start_failures=5), Action.NOTHING, "paused"),
    ("paused: a leader without quorum does not fence", leader(has_quorum=False, paused=True), PRIMARY,
     Action.NOTHING, "the leader without quorum; the cluster is paused"),
    ("paused: a primary promoted by hand on a follower is not demoted", follower(paused=True), PRIMARY,
     Action.NOTHING, "a follower of node 1; the cluster is paused"),
    ("paused: a primary with no leader is not fenced", follower(leader_id=None, paused=True), PRIMARY,
     Action.NOTHING, "with no leader; the cluster is paused"),
    ("paused: a former primary is not rewound", follower(paused=True), STOPPED_PRIMARY, Action.NOTHING, "paused"),
    ("paused: an empty follower does not clone", follower(add_node_marker=True, paused=True), EMPTY,
     Action.NOTHING, "my data directory is empty, left as it is"),
    ("paused: a replica of another node is not re-pointed",
     follower(paused=True), replace(REPLICA, upstream=N2), Action.NOTHING, "paused"),
    ("paused: a running server without its data directory is not fenced",
     follower(paused=True), replace(REPLICA, datadir=DataDirState.INVALID), Action.NOTHING, "paused"),
    ("paused: a long operation under way is named", follower(paused=True, operation=LongOperation.BASE_BACKUP),
     REPLICA, Action.NOTHING, "; base backup in progress"),
    # --- after resume the normal rules take the databases as they find them ---
    ("resumed: a database promoted by hand on a follower is demoted: the replicated leader wins",
     follower(), PRIMARY, Action.DEMOTE, "node 1 is the leader; demoting"),
    ("resumed: that demoted primary is then rewound onto the leader", follower(), STOPPED_PRIMARY,
     Action.REWIND_OR_RECLONE, "last ran as a primary, rewinding it onto node 1"),
    ("resumed: the leader's database stopped by hand is started, to be promoted", leader(), STOPPED_PRIMARY,
     Action.START_AS_REPLICA, "starting it in recovery to promote it"),
]


@pytest.mark.parametrize("view, pg, action, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decision_table(view: ClusterView, pg: PgStatus, action: Action, words: str) -> None:
    decision = decide(view, pg, now=100.0)
    assert decision.action is action, decision.reason
    assert words in decision.reason


def test_reasons_name_the_node_and_read_as_one_sentence() -> None:
    for case in CASES:
        view, pg = case[1], case[2]
        reason = decide(view, pg, now=100.0).reason
        assert reason.startswith(f"I am node {view.my_id}")
        assert "\n" not in reason


def test_actions_carry_what_the_executor_needs() -> None:
    assert decide(follower(add_node_marker=True), EMPTY, 0).leader == N1
    assert decide(follower(leader_id=2, me=1), STOPPED_PRIMARY, 0).leader == N2
    assert decide(leader(), REPLICA, 0).sync == SyncStandbys(1, ("qluster_2", "qluster_3"))
    assert decide(leader(members=FRESH), EMPTY, 0).sync == SyncStandbys(1, ("qluster_2", "qluster_3"))
    assert decide(follower(), PRIMARY, 0).leader == N1


def test_only_a_switchovers_demote_ends_sessions_between_transactions_first() -> None:
    """Issue 18 item 4: a planned demote spares the transactions under way (within a bound); a
    stray primary's demote must stop writes at once."""
    planned = decide(leader(switchover_target=2), PRIMARY, 0)
    assert (planned.action, planned.close_sessions_within) == (Action.DEMOTE, SWITCHOVER_SESSION_GRACE)
    stray = decide(follower(), PRIMARY, 0)
    assert (stray.action, stray.close_sessions_within) == (Action.DEMOTE, 0.0)
