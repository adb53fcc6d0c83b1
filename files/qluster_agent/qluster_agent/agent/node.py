"""The agent of one node: consensus, the database supervisor and the API, wired in one place.

Threads: the consensus runtime's loop, the transport's sender and receiver, the API server,
and the HA loop defined here. The HA loop owns the database: each cycle it reads the world into
one AgentSnapshot, asks the pure `decide()` what to do, does it, and says why in one sentence.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, replace

from ..api.tls import ApiTls
from ..cluster.state import ClusterState
from ..config.model import AgentConfig, ClusterSettings, MemberRole
from ..ha.decide import decide
from ..ha.decision import Action, Decision
from ..ha.marker import AddNodeMarker
from ..pg.conninfo import Endpoint
from ..pg.controller import PgController
from ..pg.datadir import datadir_state
from ..pg.errors import PgError
from ..pg.executor import LongOperationExecutor, RunningOperation
from ..pg.operation import LongOperation
from ..pg.status import DbRole, PgStatus
from ..raft.runtime import ConsensusRuntime, RuntimeStatus
from ..raft.types import ConfState
from ..storage.disk import DiskStorage
from ..transport.settings import TransportSettings
from ..transport.transport import Transport
from .actions import ActionRunner
from .beacon import Beacon
from .consensus_log import ConsensusLog
from .db_requests import DbRequestKind, DbRequests
from .db_password import DatabaseRoles, set_up_roles
from .discovery import Discovery, consensus_state_on_disk, heard_of, holds_consensus_state, is_newcomer
from .env import AgentEnv
from .history import History
from .membership import Membership
from .pooler_hold import read_hold_file
from .reinit import Reinit
from .replicated import ReplicatedState
from .retry_pause import RetryPause
from .switchover import Switchover
from .timing import core_config, glance_interval
from .views import AgentSnapshot, cluster_view
from .vote_position import VotePosition
from .wake import HA_INTERVAL, Wake, changed_at_a_glance

log = logging.getLogger("qluster")

# snapshot(): no full cycle for this long means the HA loop is stuck (the API reports it).
ALIVE_WITHIN = 5.0
# Agent.stop's bounds: under the systemd unit's TimeoutStopSec=90s with room for the fence.
STOP_BUDGET = 75.0
STOP_WAIT_CYCLE = 15.0  # a cycle may be in a demote or promote, which waits for the server
STOP_WAIT_OPERATION = 15.0  # a cancelled base backup or rewind ends within seconds
STOP_KEEP_FOR_DATABASE = 30.0  # of the budget, always left for the database's stop and fence
STOP_KEEP_FOR_FENCE = 15.0  # of that, left for the immediate stop after a failed fast one


@dataclass(frozen=True)
class AgentFiles:
    """What the agent reads from files before it starts."""

    secret: bytes
    api_token: str | None
    api_tls: ApiTls | None  # None without api-certfile
    marker: AddNodeMarker
    pg: PgController | None  # None on an observer
    db_roles: DatabaseRoles
    vote: VotePosition | None  # None on an observer; holds the position saved when its database stopped


class Agent:
    def __init__(self, config: AgentConfig, env: AgentEnv | None, files: AgentFiles) -> None:
        """No I/O here: agent/files.py build_agent reads every file first."""
        self.config = config
        self.env = env
        self.observer = config.role is MemberRole.OBSERVER
        self.my_id = config.node_id
        self.marker = files.marker
        self.pg = files.pg
        self._db_roles = files.db_roles
        # A long operation ending wakes the HA loop at once (its outcome is acted on, and
        # announced, in the cycle that takes it).
        self.executor = LongOperationExecutor(on_finished=self._nudge)
        self._nudged = threading.Event()
        self.api_token = files.api_token
        self.api_tls = files.api_tls
        self.forward_key = files.secret  # the cluster secret, which signs changes forwarded to the leader
        self._lock = threading.Lock()  # self._snapshot
        self._state = ReplicatedState(config.cluster, self._set_config)
        self._snapshot: AgentSnapshot | None = None
        self._stop = threading.Event()
        self._last_reason = ""
        self._last_cycle = 0.0
        self._wake = Wake()
        self._vote = files.vote
        self._switchover = Switchover(self.my_id)
        self._membership = Membership()
        self._reinit = Reinit(config.data_dir)
        self._history = History()
        self._db_requests = DbRequests()
        self._retry_pause = RetryPause()
        self._last_failure: str | None = None
        self._had_state = False  # consensus state on disk at start (start() reads it)
        # From a bootstrap decision until the new database's roles are set up (_set_up_roles).
        self._creating_database = False
        self._roles_error: str | None = None
        self.transport: Transport | None = None
        self.runtime: ConsensusRuntime | None = None
        self._thread: threading.Thread | None = None
        self._runner = ActionRunner(self.pg, self.executor, self.marker, self._step_down) if self.pg else None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        os.makedirs(self.config.data_dir, exist_ok=True)
        self.transport = Transport(TransportSettings.from_config(self.config), self.my_id,
                                   self.config.cluster_id, self.forward_key)
        self.transport.on_hello_change(self._on_peer_hello)
        self._had_state = consensus_state_on_disk(self.config.data_dir)
        self.transport.set_hello(self._beacon(None, None, "starting", self._pooler_held_for()).encode())
        bootstrap = Discovery.of(self.config, self.marker).bootstrap_conf(
            self._had_state, lambda: heard_of(self.transport.peers(), self.my_id))
        self.runtime = ConsensusRuntime(
            core_config(self.my_id, self.config.cluster, self.config.tick_interval, self.observer),
            DiskStorage(self.config.data_dir), self.transport,
            tick_interval=self.config.tick_interval, apply=self._state.apply, restore=self._state.restore,
            snapshot_source=lambda _index: self.cluster_state().to_snapshot(),
            bootstrap=bootstrap, logger=ConsensusLog(lambda line: log.info("consensus: %s", line)),
            vote_context_now=self._vote_context_now if self.pg else None)
        self.runtime.start()
        self._thread = threading.Thread(target=self._ha_loop, name="ha-loop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop supervising, then the database, within STOP_BUDGET seconds.

        The unit's TimeoutStopSec (90 s) SIGKILLs what is left, and a database left running
        by a dead agent is one nobody fences, so every wait here is bounded and the database
        is stopped however the waits before it ended. The executor is closed first so that a
        cycle still running cannot start a base backup or a server after the database stopped.
        """
        deadline = time.monotonic() + STOP_BUDGET
        self._stop.set()
        self.executor.close()
        if self._thread is not None:
            self._thread.join(timeout=STOP_WAIT_CYCLE)
            if self._thread.is_alive():
                log.warning("stopping: the HA cycle did not end within %.0f s; stopping the database anyway",
                            STOP_WAIT_CYCLE)
        operation_wait = min(STOP_WAIT_OPERATION, deadline - time.monotonic() - STOP_KEEP_FOR_DATABASE)
        if not self.executor.wait(max(1.0, operation_wait)):
            running = self.executor.running()
            log.warning("stopping: the %s did not end when cancelled; stopping the database anyway",
                        running.kind.value if running else "operation")
        self._stop_database(max(5, int(deadline - time.monotonic() - STOP_KEEP_FOR_FENCE)))
        if self.runtime is not None:
            self.runtime.stop()
        if self.transport is not None:
            self.transport.close()
        log.info("stopped")

    def _stop_database(self, timeout_s: int) -> None:
        """A database must not outlive its agent: nothing would fence it when leadership moves.

        Stopped while this node still takes part in consensus, so no other node is elected
        while it may still accept writes (a fast shutdown first sends the standbys all WAL).
        """
        if self.pg is None:
            return
        log.info("stopping: fast shutdown of the database (at most %d s)", timeout_s)
        try:
            self.pg.stop(timeout_s=timeout_s)
        except PgError as exc:
            log.warning("stopping the database on shutdown: %s; stopping it immediately", exc)
            self.pg.fence()

    # ------------------------------------------------------------------ replicated state
    def _set_config(self, settings: ClusterSettings) -> None:
        """The cluster settings changed (applied, or restored from a snapshot): the core's timing too."""
        if self.runtime is not None:
            self.runtime.set_config(core_config(self.my_id, settings, self.config.tick_interval, self.observer))
            log.info("cluster settings changed: node-timeout %.3fs, heartbeat-interval %.3fs",
                     settings.node_timeout, settings.heartbeat_interval)

    def cluster_state(self) -> ClusterState:
        return self._state.current()

    # ------------------------------------------------------------------ the HA loop
    def _ha_loop(self) -> None:
        wake = self._wake
        while not self._stop.is_set():
            try:
                if wake.cycle_now(self._switchover.target is not None, self._changed):
                    self._cycle()
            except Exception:  # one bad cycle must not end supervision; say why and go on
                log.exception("HA cycle failed")
            timeout = wake.timeout(self._switchover.target is not None, self.executor.running() is not None,
                                   glance_interval(self.cluster_state().settings))
            status = self.runtime.wait_status(lambda s, prev=wake.last_status: s != prev or self._nudged.is_set(),
                                              timeout)
            # Cleared before the next cycle reads the world: a nudge after this is waited on
            # no longer than it takes to come back here.
            self._nudged.clear()
            wake.woke(status)

    def _nudge(self) -> None:
        """Wake the HA loop for a full cycle now (from another thread)."""
        self._nudged.set()
        if self.runtime is not None:
            self.runtime.nudge()

    def _on_peer_hello(self, node_id: int, info: bytes) -> None:
        """The receiving thread heard a peer's beacon change (Wake.leader_hello: is it news)."""
        try:
            leader = self.runtime.status().leader if self.runtime is not None else None
        except RuntimeError:  # not opened yet: nobody leads for this node so far
            return
        if self._wake.leader_hello(node_id, leader, info):
            self._nudge()

    def _changed(self) -> bool:
        snap, running = self._snapshot, self.executor.running()
        return changed_at_a_glance(
            snap, running.kind if running else None, self.transport.peers, time.monotonic(),
            3 * self.config.hello_retry_interval,
            lambda: self.pg is not None and snap.pg is not None and self.pg.changed_since(snap.pg))

    def _cycle(self) -> None:
        """One full cycle: read the world, see it as one AgentSnapshot, decide, act, say why."""
        now = time.monotonic()
        self._take_finished(now)
        running, pg, status = self._read()
        # Read once: the snapshot decide() sees and the beacon sent at the end say the same hold.
        pooler_held_for = self._pooler_held_for()
        snap = self._view(status, pg, now, running, pooler_held_for)
        decision = decide(cluster_view(snap), pg, now) if pg is not None else Decision(
            Action.NOTHING, f"I am node {self.my_id}, an observer without a database; nothing to do")
        if decision.reason != self._last_reason:  # said before acting: a promote may take seconds
            log.info("%s", decision.reason)
            self._last_reason = decision.reason
        self._act(decision, status, snap)
        self.transport.set_hello(self._beacon(pg, decision, None, pooler_held_for).encode())
        self._last_cycle = now
        with self._lock:
            self._snapshot = snap

    def _take_finished(self, now: float) -> None:
        """The outcome of a long operation that ended since the last cycle."""
        finished = self.executor.take_finished()
        if finished is None:
            return
        log.info("%s", finished.describe())
        if finished.kind is LongOperation.BOOTSTRAP:
            self._creating_database = finished.succeeded and self._db_roles.anything_to_do
        if finished.kind is LongOperation.RESTART:
            self._db_requests.finished(finished.succeeded, finished.describe())
        if finished.succeeded:
            self._retry_pause.succeeded()
        else:
            # Pause before the next long action: a base backup from a leader whose database
            # is still starting would fail again at once and flood the log.
            pause = self._retry_pause.failed(now)
            self._last_failure = finished.describe()
            log.info("the next long operation not before %.0f s from now (%d failed in a row)",
                     pause, self._retry_pause.failures)

    def _read(self) -> tuple[RunningOperation | None, PgStatus | None, RuntimeStatus]:
        """What runs, the database, then consensus.

        The database first: reading it takes tens of milliseconds, and leadership gained
        meanwhile (a switchover's TimeoutNow) is acted on in this cycle instead of the next.
        What runs is read before the database: an operation that ends during the read must
        not look finished beside a status taken while it ran (a clone still starting its
        server reads as stopped, which without the operation means "clone again").
        """
        running = self.executor.running()
        pg = self.pg.status(wal_end=running is None) if self.pg else None
        if self._creating_database and running is None and pg is not None and pg.role is DbRole.PRIMARY:
            self._set_up_roles()
        return running, pg, self.runtime.status()

    def _view(self, status: RuntimeStatus, pg: PgStatus | None, now: float,
              running: RunningOperation | None, pooler_held_for: int | None) -> AgentSnapshot:
        """The AgentSnapshot decide() sees, after the vote position and the switchover took in what was read."""
        before = self._snapshot.pg if self._snapshot is not None else None
        if pg is not None:
            vote = self._vote.observe(pg)
            if vote.context is not None:
                self.runtime.set_vote_context(vote.context)
        dropped = self._switchover.expire(status.is_leader, status.leader, now)
        if dropped is not None:
            (log.info if not status.is_leader else log.warning)("%s", dropped)
        if self.cluster_state().paused and self._switchover.target is not None:
            # Paused: no leadership moves by the HA loop (a hand-over would be one).
            log.warning("switchover to node %d dropped: the cluster is paused", self._switchover.target)
            self._switchover.target = None
        snap = self._snapshot_of(status, pg, now, running, pooler_held_for)
        self._history.observe(snap)
        leader = snap.beacons.get(status.leader) if status.leader not in (0, self.my_id) else None
        self._wake.saw(before, pg, leader, now)
        return snap

    def _act(self, decision: Decision, status: RuntimeStatus, snap: AgentSnapshot) -> None:
        """decide()'s action on the database, then the duties beside it: a leader's hand-over
        and membership, and a requested reinit (Reinit's choice, run as a decision of its own)."""
        if self._runner is not None and not self._stop.is_set():
            if decision.action is Action.BOOTSTRAP:
                # Announced as being created from now until its roles are set up, even if the
                # initdb ends before this cycle does (agent/views.py: Member.db_bootstrapping).
                self._creating_database = True
            self._runner.run(decision)
        self._run_db_request()
        if status.is_leader:
            self._lead(status, snap)
        if snap.state.paused:
            return  # a reinit asked for before the pause waits for the resume
        reinit = self._reinit.due(snap)
        if reinit is not None and self._runner.run(reinit.decision):
            log.info("%s", reinit.reason)
            self._reinit.started(reinit)

    def _run_db_request(self) -> None:
        """An operator's restart or reload of this database (agent/db_requests.py)."""
        request = self._db_requests.take()
        if request is None:
            return
        if self._runner is None or self._stop.is_set():
            self._db_requests.started(request, False, "this agent is stopping" if self._runner else "no database here")
            return
        decision = request.decision(self.my_id)
        log.info("%s", decision.reason)
        try:
            started = self._runner.run(decision)
        except PgError as exc:
            self._db_requests.started(request, False, str(exc))
            return
        running = self.executor.running()
        busy = f"a {running.kind.value} is in progress" if running else "the agent is stopping"
        self._db_requests.started(request, started, "" if started else busy)

    def request_database(self, kind: DbRequestKind) -> Future:
        """POST /restart, /reload on this node: a Future settled by the HA loop (a restart once done)."""
        future = self._db_requests.ask(kind)
        self._nudge()
        return future

    def _set_up_roles(self) -> None:
        """The roles right after initdb (postgres.password-file ...); tried again each cycle
        until done: until then the replicas wait to clone (their role may need the password)."""
        try:
            set_up_roles(self.pg.options, self._db_roles)
        except Exception as exc:  # a database error, or one reading the connection: next cycle
            said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if said != self._roles_error:
                log.warning("setting up the database roles after initdb failed: %s; trying again", said)
                self._roles_error = said
            return
        self._creating_database = False
        self._roles_error = None

    def _vote_context_now(self) -> int | None:
        """My vote context as of this moment, for the consensus thread (None: abstain): asked of
        VotePosition with the database status the last full cycle published."""
        last = self._snapshot.pg if self._snapshot is not None else None
        return self._vote.answer(last, self.pg.wal_held_now, self.pg.wal_receiver_running)

    def _snapshot_of(self, status: RuntimeStatus, pg: PgStatus | None, now: float,
                     running: RunningOperation | None, pooler_held_for: int | None) -> AgentSnapshot:
        peers = self.transport.peers()
        fresh_for = 3 * self.config.hello_retry_interval
        beacons: dict[int, Beacon] = {}
        last_seen: dict[int, float] = {self.my_id: 0.0}
        for node_id, peer in peers.items():
            last_seen[node_id] = max(0.0, now - peer.last_seen)
            beacon = Beacon.decode(peer.info)
            if beacon is not None and last_seen[node_id] <= fresh_for:
                beacons[node_id] = beacon
        beacons[self.my_id] = self._beacon(pg, None, None, pooler_held_for)
        return AgentSnapshot(
            my_id=self.my_id, raft=status, state=self.cluster_state(), beacons=beacons, last_seen=last_seen,
            pg=pg, add_node_marker=self.marker.exists(), switchover_target=self._switchover.target_for_decide(pg, beacons, now),
            operation=running.kind if running else None, operation_started_at=running.started_at if running else None,
            agent_alive=True, retry_not_before=self._retry_pause.not_before, last_failure=self._last_failure)

    def _pooler_held_for(self) -> int | None:
        """The member id a pooler host's clients are held for now (agent/pooler_hold.py); None
        when held for nobody, or when this agent is no pooler host's observer."""
        return read_hold_file(self.config.pooler_hold_file) if self.config.pooler_hold_file else None

    def _beacon(self, pg: PgStatus | None, decision: Decision | None, operation: str | None,
                pooler_held_for: int | None) -> Beacon:
        running = self.executor.running()
        status = self.runtime.status() if self.runtime is not None else None
        return Beacon(
            name=os.uname().nodename,
            address=self.config.ip, api_port=self.config.api_port,
            db_port=None if self.observer else (self.env.pgport if self.env else None),
            observer=self.observer,
            db_role=DbRole.NONE if self.observer else (pg.role if pg is not None else DbRole.UNKNOWN),
            wal_position=pg.wal_position if pg else None,
            replayed_lsn=pg.replayed_lsn if pg else None,
            timeline=pg.timeline if pg else None,
            streaming=bool(pg and pg.streaming),
            archive_failing=bool(pg and pg.archiver and pg.archiver.failing),
            pending_restart=pg.pending_restart if pg else None,
            operation=operation or (running.kind.value if running else None) or (
                LongOperation.BOOTSTRAP.value if self._creating_database else None),
            decision=decision.reason if decision else self._last_reason,
            vote_context=self._vote.context if self._vote is not None else 0,
            switchover_to=self._switchover.target,
            holds_pooler=self.config.pooler_hold_file is not None,
            pooler_held_for=pooler_held_for,
            newcomer=is_newcomer(holds_consensus_state(status, self._had_state), self.observer,
                                 self.marker if self.pg is not None else None,
                                 lambda: pg.datadir if pg is not None else datadir_state(self.pg.options.datadir)),
        )

    # ------------------------------------------------------------------ leader duties
    def _lead(self, status: RuntimeStatus, snap: AgentSnapshot) -> None:
        """A leader's duties beside decide(): record the leader change, hand over to a switchover's
        target, then membership."""
        change = self._history.due(snap, time.time())
        if change is not None:
            log.info("I am node %d, the leader; recording the leader change of term %d (%s)",
                     self.my_id, change.term, change.reason)
            pending = self.runtime.propose(ClusterState.cmd_leader_change(change))
            self._history.proposed(change, pending)
            pending.add_done_callback(_log_failed_proposal)
        handover = self._switchover.hand_over(
            snap.pg, self._vote.context if self._vote else 0, snap.beacons, snap.raft.voters,
            lambda beacon: self.pg.position_of(Endpoint(beacon.address, beacon.db_port)))
        if handover is not None and handover.to is not None:
            self.runtime.transfer_leader(handover.to)
        step = self._membership.next_step(ConfState(status.voters, status.observers), snap.state, snap.beacons, snap.pg)
        if step is None:
            return
        log.info("I am node %d, the leader; %s", self.my_id, step.reason)
        if step.command is not None:
            pending = self.runtime.propose(step.command)
        else:
            pending = self.runtime.propose_conf_change(step.change)
        self._membership.proposed(pending)
        pending.add_done_callback(_log_failed_proposal)

    def request_switchover(self, target: int) -> None:
        self._switchover.request(target, time.monotonic(), self.cluster_state().settings.set_leader_timeout)

    def _step_down(self) -> None:
        """Hand leadership to the most caught-up other voter (a leader whose database cannot run)."""
        snap = self._snapshot
        if snap is None:
            return
        # Ranked by what the votes compare (timeline, then LSN): a member with a longer WAL on
        # an older timeline would only lose the election the transfer starts.
        candidates = [(b.vote_context, node_id) for node_id, b in snap.beacons.items()
                      if node_id != self.my_id and node_id in snap.raft.voters]
        if candidates:
            self.runtime.transfer_leader(max(candidates)[1])

    # ------------------------------------------------------------------ for the API (agent/backend.py)
    def heard_ago(self) -> dict[int, float]:
        """Seconds since each peer's last authentic datagram, as of now. A snapshot's are as old
        as the HA cycle that took it (up to HA_INTERVAL at rest): a pooler host's sync tells a
        silent leader from the map's, and needs them live."""
        if self.transport is None:
            return {}
        now = time.monotonic()
        return {node_id: max(0.0, now - peer.last_seen) for node_id, peer in self.transport.peers().items()}

    def snapshot(self) -> AgentSnapshot | None:
        with self._lock:
            snap = self._snapshot
        if snap is None:
            return None
        alive = time.monotonic() - self._last_cycle < max(ALIVE_WITHIN, 3 * HA_INTERVAL)
        return snap if alive == snap.agent_alive else replace(snap, agent_alive=alive)


def _log_failed_proposal(future: Future) -> None:
    exc = future.exception()
    if exc is not None:
        log.info("a leader's proposal (membership, history) not committed: %s", exc)
