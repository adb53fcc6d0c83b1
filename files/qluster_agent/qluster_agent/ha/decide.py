"""The HA decision: from one cluster view and one database status to one action (pure).

No clock reads, no I/O, no sleeping: `now` comes in as an argument. The rules, in the order
they are checked:

0. While the cluster is paused (maintenance mode, `view.paused`), nothing is done to the
   database, whatever it runs as: no start, stop, fence, demote, promote, clone or rewind, and
   no step-down. The operator owns the databases until `resume`; the next decision after it
   takes them as it finds them (a database promoted by hand on a follower is demoted by rule 1).
1. Safety first: a writable database on a node that is not the leader with quorum stops taking
   writes at once (fence when no one else can be trusted to lead yet, demote when a new leader
   is known or a switchover was asked for). This is checked even while a long operation runs.
2. While a long operation runs, say so and do nothing else; after one failed, hold back the
   next long action until `view.retry_not_before` (the loop's backoff).
3. The leader with quorum makes its database the primary: bootstrap an empty cluster (only when
   no marker, nobody else has data, and no database was ever recorded), start, promote, keep
   the synchronous standbys right, and step down when its database cannot run.
4. A follower gets its database streaming from the leader: clone when empty, rewind (or
   re-clone) a former primary or a replica stuck on a forked history, start, follow a new
   leader, and remove the add_node marker only once streaming.
"""

from __future__ import annotations

from ..pg.conninfo import Endpoint
from ..pg.status import DataDirState, DbRole, PgStatus
from .decision import SWITCHOVER_SESSION_GRACE, Action, Decision
from .sync_standbys import desired_sync_standbys
from .view import ClusterView

# A leader whose database failed to start this many times in a row hands leadership over.
LEADER_START_ATTEMPTS = 1
# A leader whose database runs but has not answered for this long hands leadership over: crash
# recovery or a clone that never reaches consistency must not keep the cluster without a primary.
# Generous: crash recovery after a busy period replays up to max_wal_size of WAL.
LEADER_UNAVAILABLE_GRACE_S = 60.0
# A replica whose database failed to start this many times in a row is rebuilt from the leader.
REPLICA_START_ATTEMPTS = 2
# A replica pointed at the leader that neither streams nor replays for this long has most
# likely forked from the leader's history (it got WAL the old leader never sent to the
# others): rewind it. Generous, since a walreceiver retries every 5 s (wal_retrieve_retry_interval).
REPLICA_STALL_GRACE_S = 30.0
# A replica's database that runs but has not accepted connections for this long cannot reach a
# consistent state on the leader's history (PostgreSQL: "new timeline N forked off current
# database system timeline M before current recovery point"): rewind it. A replica restarted
# after downtime answers as soon as it is consistent again, long before this.
REPLICA_UNAVAILABLE_GRACE_S = 120.0


def decide(view: ClusterView, pg: PgStatus, now: float) -> Decision:
    me = f"I am node {view.my_id}"
    if view.am_observer:
        return Decision(Action.NOTHING, f"{me}, an observer without a database; nothing to do")
    if view.paused:
        return _paused(view, pg, me)
    unsafe = _stop_unsafe_writes(view, pg, me)
    if unsafe is not None:
        return unsafe
    if view.operation is not None:
        took = "" if view.operation_started_at is None else f" for {now - view.operation_started_at:.0f} s"
        return Decision(Action.REPORT_IN_PROGRESS, f"{me}; {view.operation.value} in progress{took}")
    decision = _as_leader(view, pg, me, now) if view.is_leader else _as_follower(view, pg, me, now)
    if decision.action.waits_out_a_failure and view.retry_not_before is not None:
        if view.retry_not_before > now:
            # Without the seconds left: the reason is logged each time its text changes.
            failed = f" ({view.last_failure})" if view.last_failure else ""
            return Decision(
                Action.NOTHING,
                f"{me}; the last long operation failed{failed}, will {decision.action.value} after a pause",
            )
    return decision


def _paused(view: ClusterView, pg: PgStatus, me: str) -> Decision:
    if view.is_leader:
        who = f"{me}, the leader" + ("" if view.has_quorum else " without quorum")
    elif view.leader_id is not None:
        who = f"{me}, a follower of node {view.leader_id}"
    else:
        who = f"{me}, with no leader"
    database = "my data directory is empty" if pg.datadir is DataDirState.EMPTY else f"my database is {pg.role.value}"
    running = "" if view.operation is None else f"; {view.operation.value} in progress"
    return Decision(
        Action.NOTHING, f"{who}; the cluster is paused (maintenance mode): {database}, left as it is{running}"
    )


def _stop_unsafe_writes(view: ClusterView, pg: PgStatus, me: str) -> Decision | None:
    if pg.running and pg.datadir is not DataDirState.VALID:
        # PGDATA deleted under a running server (seed 003's drill): it may still take writes
        # until it notices, up to a minute later.
        return Decision(Action.FENCE, f"{me} and my database runs without its data directory; fencing it")
    if pg.role is not DbRole.PRIMARY:
        return None
    if view.is_leader and view.has_quorum:
        target = view.switchover_target
        if target is not None and target != view.my_id:
            return Decision(
                Action.DEMOTE,
                f"{me}, the leader; switchover to node {target} requested, "
                "demoting my database so it can take over with all WAL",
                close_sessions_within=SWITCHOVER_SESSION_GRACE,
            )
        return None
    if view.is_leader:
        return Decision(
            Action.FENCE,
            f"{me}, the leader, but I lost quorum; fencing my database before another node can be elected",
        )
    if view.leader_id is not None and view.leader_id != view.my_id:
        return Decision(
            Action.DEMOTE,
            f"{me} and my database is writable but node {view.leader_id} is the leader; demoting",
            leader=view.leader_endpoint,
        )
    return Decision(Action.FENCE, f"{me} and my database is writable but I am not the leader; fencing it")


def _as_leader(view: ClusterView, pg: PgStatus, me: str, now: float) -> Decision:
    if not view.has_quorum:
        return Decision(
            Action.NOTHING, f"{me}, the leader without quorum; my database stays read-only until quorum returns"
        )
    me = f"{me}, the leader with quorum"
    sync = desired_sync_standbys(view)
    if pg.datadir is DataDirState.EMPTY:
        if view.add_node_marker:
            return Decision(
                Action.STEP_DOWN,
                f"{me}, but my data directory is empty and I carry the "
                "add_node marker (I must join as a replica); stepping down",
            )
        if view.database_system is not None:
            return Decision(
                Action.STEP_DOWN,
                f"{me}, but my data directory is empty and the cluster's database (system "
                f"{view.database_system}) already exists; stepping down so a member holding it can lead",
            )
        if view.others_hold_data:
            return Decision(
                Action.STEP_DOWN,
                f"{me}, but my data directory is empty while other members "
                "hold data; stepping down so I can clone from them",
            )
        return Decision(
            Action.BOOTSTRAP,
            f"{me}; my data directory is empty and there is no add_node marker, initialising the cluster's database",
            sync=sync,
        )
    if pg.datadir is DataDirState.INVALID:
        return Decision(Action.STEP_DOWN, f"{me}, but my data directory is not a usable database; stepping down")
    target = view.switchover_target
    if target is not None and target != view.my_id:
        return Decision(
            Action.NOTHING,
            f"{me}; switchover to node {target} requested, keeping my database out of the primary role",
        )
    if pg.role is DbRole.STOPPED:
        if pg.start_failures >= LEADER_START_ATTEMPTS:
            return Decision(Action.STEP_DOWN, f"{me}, but my database failed to start; stepping down")
        # Started in recovery and promoted next cycle: promotion always opens a new timeline,
        # so this node's new history can never be confused with another node's on the old one.
        return Decision(Action.START_AS_REPLICA, f"{me}; my database is stopped, starting it in recovery to promote it")
    if pg.role is DbRole.UNAVAILABLE:
        waited = 0.0 if pg.unavailable_since is None else now - pg.unavailable_since
        if waited >= LEADER_UNAVAILABLE_GRACE_S:
            return Decision(
                Action.STEP_DOWN,
                f"{me}, but my database has not accepted connections for {waited:.0f} s; stepping down",
            )
        return Decision(Action.NOTHING, f"{me}; waiting for my database to accept connections")
    if pg.role is DbRole.REPLICA:
        return Decision(Action.PROMOTE, f"{me}; promoting my database to primary", sync=sync)
    if pg.synchronous_standby_names != sync.render():
        wanted = sync.render() or "asynchronous"
        return Decision(Action.UPDATE_SYNC_STANDBYS, f"{me}; setting synchronous standbys to {wanted}", sync=sync)
    return Decision(Action.NOTHING, f"{me}; nothing to do")


def _as_follower(view: ClusterView, pg: PgStatus, me: str, now: float) -> Decision:
    leader = view.leader_endpoint
    leader_name = f"node {view.leader_id}"
    wait = ""
    if leader is None:
        wait = "there is no leader" if view.leader_id is None else f"the address of {leader_name} is unknown"
    if pg.datadir is DataDirState.EMPTY:
        if leader is None:
            why = "I carry the add_node marker" if view.add_node_marker else "my data directory is empty"
            return Decision(Action.WAIT_FOR_LEADER, f"{me}; {why} but {wait} to clone from; waiting")
        waiting = _leader_db_not_ready(view, me, "my data directory is empty", leader_name)
        if waiting is not None:
            return waiting
        return Decision(
            Action.CLONE_FROM_LEADER,
            f"{me}; my data directory is empty, cloning it from {leader_name}",
            leader=leader,
        )
    if pg.datadir is DataDirState.INVALID or (pg.role is DbRole.STOPPED and view.add_node_marker):
        what = (
            "my data directory is not a usable database"
            if pg.datadir is DataDirState.INVALID
            else "my clone never reached streaming (add_node marker still present)"
        )
        if leader is None:
            return Decision(Action.WAIT_FOR_LEADER, f"{me}; {what} and {wait}; waiting")
        waiting = _leader_db_not_ready(view, me, what, leader_name)
        if waiting is not None:
            return waiting
        return Decision(Action.RECLONE_FROM_LEADER, f"{me}; {what}, cloning afresh from {leader_name}", leader=leader)
    if pg.role is DbRole.STOPPED:
        return _start_stopped_follower(view, pg, me, leader, leader_name, wait)
    if pg.role is DbRole.UNAVAILABLE:
        return _wait_for_unavailable_replica(view, pg, me, leader, leader_name, now)
    # A replica from here on (a primary was handled by _stop_unsafe_writes).
    if leader is None:
        return Decision(Action.NOTHING, f"{me}, a replica; {wait}, staying read-only")
    if pg.upstream != leader:
        was = pg.upstream.describe() if pg.upstream else "nobody"
        return Decision(
            Action.FOLLOW_NEW_LEADER,
            f"{me}, a replica following {was}; switching to {leader_name} at {leader.describe()}",
            leader=leader,
        )
    if not pg.streaming:
        stalled = 0.0 if pg.stalled_since is None else now - pg.stalled_since
        if stalled >= REPLICA_STALL_GRACE_S:
            # Not streaming because the leader's database is down is no fork: rewinding then
            # would only take this replica down too.
            waiting = _leader_db_not_ready(view, me, f"a replica not streaming for {stalled:.0f} s", leader_name)
            if waiting is not None:
                return waiting
            return Decision(
                Action.REWIND_OR_RECLONE,
                f"{me}, a replica of {leader_name} that has neither streamed nor replayed for {stalled:.0f} s; "
                "rewinding it onto the leader (re-cloning if that fails)",
                leader=leader,
            )
        return Decision(Action.NOTHING, f"{me}, a replica of {leader_name}, not streaming yet")
    if view.add_node_marker:
        return Decision(
            Action.REMOVE_ADD_NODE_MARKER,
            f"{me}, a new replica now streaming from {leader_name}; removing the add_node marker",
        )
    if pg.temp_slot_deferred and view.another_replica_streams:
        return Decision(
            Action.RESTORE_TEMP_SLOT,
            f"{me}, a replica streaming from {leader_name} without a temporary slot since it switched "
            "leaders; another replica streams too, so restarting my walreceiver to create one holds up no commit",
            leader=leader,
        )
    return Decision(Action.NOTHING, f"{me}, a replica streaming from {leader_name}; nothing to do")


def _wait_for_unavailable_replica(
    view: ClusterView, pg: PgStatus, me: str, leader: Endpoint | None, leader_name: str, now: float
) -> Decision:
    waited = 0.0 if pg.unavailable_since is None else now - pg.unavailable_since
    if waited < REPLICA_UNAVAILABLE_GRACE_S or leader is None:
        return Decision(Action.NOTHING, f"{me}; waiting for my database to accept connections")
    what = f"my database has not accepted connections for {waited:.0f} s"
    waiting = _leader_db_not_ready(view, me, what, leader_name)
    if waiting is not None:
        return waiting
    return Decision(
        Action.REWIND_OR_RECLONE,
        f"{me}; {what}, so it cannot become consistent on the history of {leader_name}; "
        "rewinding it onto the leader (re-cloning if that fails)",
        leader=leader,
    )


def _leader_db_not_ready(view: ClusterView, me: str, what: str, leader_name: str) -> Decision | None:
    """Clone, rewind and re-clone copy from the leader's running primary; without one, wait."""
    if view.leader_db_bootstrapping:
        return Decision(
            Action.NOTHING, f"{me}; {what}, but the database of {leader_name} is still being created; waiting for it"
        )
    if view.leader_db_primary:
        return None
    return Decision(
        Action.NOTHING,
        f"{me}; {what}, but the database of {leader_name} is not running as the primary yet; waiting for it",
    )


def _start_stopped_follower(
    view: ClusterView, pg: PgStatus, me: str, leader: Endpoint | None, leader_name: str, wait: str
) -> Decision:
    if pg.last_ran_as_primary:
        if leader is None:
            return Decision(
                Action.WAIT_FOR_LEADER,
                f"{me}; my database last ran as a primary and {wait} to rewind from; keeping it stopped",
            )
        waiting = _leader_db_not_ready(view, me, "my database last ran as a primary", leader_name)
        if waiting is not None:
            return waiting
        return Decision(
            Action.REWIND_OR_RECLONE,
            f"{me}; my database last ran as a primary, rewinding it onto {leader_name} (re-cloning if that fails)",
            leader=leader,
        )
    if pg.start_failures >= REPLICA_START_ATTEMPTS:
        if leader is None:
            return Decision(
                Action.WAIT_FOR_LEADER,
                f"{me}; my database failed to start {pg.start_failures} times and {wait} to rebuild from; waiting",
            )
        waiting = _leader_db_not_ready(view, me, f"my database failed to start {pg.start_failures} times", leader_name)
        if waiting is not None:
            return waiting
        return Decision(
            Action.REWIND_OR_RECLONE,
            f"{me}; my database failed to start {pg.start_failures} times, rebuilding it from {leader_name}",
            leader=leader,
        )
    if leader is None:
        return Decision(Action.START_AS_REPLICA, f"{me}; {wait}, starting my database as a read-only replica")
    return Decision(Action.START_AS_REPLICA, f"{me}; starting my database as a replica of {leader_name}", leader=leader)
