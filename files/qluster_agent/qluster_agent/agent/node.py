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
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

from ..api.health import NodeHealth
from ..api.tls import ApiTls
from ..cluster.state import ClusterState, CommandError
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
from ..pg.status import DataDirState, DbRole, PgStatus, WalMark
from ..raft.runtime import ConsensusRuntime, RuntimeStatus
from ..raft.types import ConfState, Entry, EntryType, Snapshot as RaftSnapshot
from ..storage.disk import DiskStorage
from ..transport.settings import TransportSettings
from ..transport.transport import Transport
from .actions import ActionRunner
from .beacon import Beacon
from .consensus_log import ConsensusLog
from .db_password import DatabaseRoles, set_up_roles
from .env import AgentEnv
from .first_start import Heard, Verdict, first_start
from .membership import Membership
from .reinit import Reinit
from .retry_pause import RetryPause
from .switchover import Switchover
from .timing import core_config, glance_interval
from .views import AgentSnapshot, cluster_map, cluster_view, node_health
from .vote_position import VotePosition

log = logging.getLogger("qluster")

# Seconds between full HA cycles (read the database, decide) when nothing calls for one sooner.
# Sooner means: any change of the consensus status (the loop wakes at once), or a change seen at
# a glance (every third of node-timeout: agent/timing.py glance_interval): a long operation
# starting or ending, or the local database (PgController.changed_since: its process, its role,
# WAL position, streaming and standbys, one short statement). A failover, a crashed replica and
# a replica's moving WAL (what it votes with) are acted on within a glance; an idle node reads
# its database once a second. A leader does not glance (its database is read once a second).
HA_INTERVAL = 1.0
# The same while a switchover is under way, and for a while after a replica stopped streaming
# (a switchover's target announces the last WAL it received; or a failover is near).
QUICK_INTERVAL = 0.02
QUICK_AFTER_STREAMING = 2.0
# snapshot(): no full cycle for this long means the HA loop is stuck (the API reports it).
ALIVE_WITHIN = 5.0
PROPOSAL_TIMEOUT = 10.0
# Agent.stop's bounds: under the systemd unit's TimeoutStopSec=90s with room for the fence.
STOP_BUDGET = 75.0
STOP_WAIT_CYCLE = 15.0  # a cycle may be in a demote or promote, which waits for the server
STOP_WAIT_OPERATION = 15.0  # a cancelled base backup or rewind ends within seconds
STOP_KEEP_FOR_DATABASE = 30.0  # of the budget, always left for the database's stop and fence
STOP_KEEP_FOR_FENCE = 15.0  # of that, left for the immediate stop after a failed fast one
# How often a node in its discovery window looks at the peers heard so far (agent/first_start.py).
DISCOVERY_POLL = 0.02


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
        self._leader_db_heard: tuple[int, DbRole, str | None] | None = None  # _on_peer_hello
        self.api_token = files.api_token
        self.api_tls = files.api_tls
        self._secret = files.secret
        self._lock = threading.Lock()
        self._state = ClusterState(config.cluster)
        self._snapshot: AgentSnapshot | None = None
        self._stop = threading.Event()
        self._last_reason = ""
        self._last_cycle = 0.0
        self._vote = files.vote
        self._switchover = Switchover(self.my_id)
        self._membership = Membership()
        self._reinit = Reinit(config.data_dir)
        self._retry_pause = RetryPause()
        self._last_failure: str | None = None
        self._quick_until = 0.0
        self._had_state = False  # consensus state on disk at start (start() reads it)
        # From a bootstrap decision until the new database's roles are set up (_set_up_roles).
        self._creating_database = False
        self._roles_error: str | None = None
        self.transport: Transport | None = None
        self.runtime: ConsensusRuntime | None = None
        self._thread: threading.Thread | None = None
        self._runner = ActionRunner(self.pg, self.executor, self.marker, self._step_down) if self.pg else None

    @property
    def forward_key(self) -> bytes:
        """The cluster secret, which signs the changes this node forwards to the leader."""
        return self._secret

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        os.makedirs(self.config.data_dir, exist_ok=True)
        self.transport = Transport(TransportSettings.from_config(self.config), self.my_id,
                                   self.config.cluster_id, self._secret)
        self.transport.on_hello_change(self._on_peer_hello)
        self._had_state = self._load_has_state()
        self.transport.set_hello(self._beacon(None, None, "starting").encode())
        bootstrap = self._bootstrap_conf()
        self.runtime = ConsensusRuntime(
            core_config(self.my_id, self.config.cluster, self.config.tick_interval, self.observer),
            DiskStorage(self.config.data_dir), self.transport,
            tick_interval=self.config.tick_interval, apply=self._apply, restore=self._restore,
            snapshot_source=lambda _index: self.cluster_state().to_snapshot(),
            bootstrap=bootstrap, logger=ConsensusLog(lambda line: log.info("consensus: %s", line)),
            vote_context_now=self._vote_context_now if self.pg else None)
        self.runtime.start()
        self._thread = threading.Thread(target=self._ha_loop, name="ha-loop", daemon=True)
        self._thread.start()

    def _load_has_state(self) -> bool:
        storage = DiskStorage(self.config.data_dir)
        try:
            hard_state, snapshot, entries = storage.load()
        finally:
            storage.close()
        return bool(hard_state.term or snapshot is not None or entries)

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

    def _bootstrap_conf(self) -> ConfState | None:
        """A brand-new cluster starts on the one node without the add_node marker (seed 000 §7.3).

        Only when this node has no consensus state, is a voter, carries no marker, and hears
        no node of its cluster but newcomers within the discovery window (agent/first_start.py:
        the window ends early once every peer of a unicast list is a heard newcomer); an
        existing cluster takes a new node in through its leader instead.
        """
        if self._had_state:
            return None
        if self.observer:
            log.info("I am node %d, an observer; waiting for the cluster's leader to add me", self.my_id)
            return None
        if self.marker.exists():
            log.info("I am node %d with the add_node marker %s; waiting for the leader to add me",
                     self.my_id, self.marker.path)
            return None
        window = max(2 * self.config.hello_retry_interval, 1.0)
        listed = self._listed_peers()
        started = time.monotonic()
        while True:
            found = first_start(self._heard(), listed, time.monotonic() - started, window)
            if found.verdict is Verdict.JOIN:
                log.info("I am node %d of cluster %s without consensus state, but %s; not bootstrapping, "
                         "waiting to be added", self.my_id, self.config.cluster_id, found.reason)
                return None
            if found.verdict is Verdict.BOOTSTRAP:
                log.info("I am node %d: no consensus state, no add_node marker, %s; bootstrapping a new "
                         "cluster after %.2f s", self.my_id, found.reason, time.monotonic() - started)
                return ConfState(frozenset({self.my_id}))
            time.sleep(DISCOVERY_POLL)  # the transport's receiving thread fills the peer table

    def _heard(self) -> dict[int, Heard]:
        return {node_id: Heard(peer.address, peer.info)
                for node_id, peer in self.transport.peers().items() if node_id != self.my_id}

    def _listed_peers(self) -> frozenset[tuple[str, int]] | None:
        """The unicast peer list without this node's own entry (as the transport sends to it);
        None in multicast mode."""
        peers = self.config.udp.peers
        if not peers:
            return None
        own = (self.config.ip, self.config.udp.socket.group.port)
        return frozenset(peer.as_tuple() for peer in peers if peer.as_tuple() != own)

    def _has_consensus_state(self) -> bool:
        if self.runtime is None:
            return self._had_state
        status = self.runtime.status()
        return bool(status.term or status.commit or status.voters or status.observers)

    def _newcomer(self, pg: PgStatus | None) -> bool:
        """Beacon.newcomer: no consensus state, and waiting to be added with nothing of its own
        (an observer, or the add_node marker on an empty data directory)."""
        if self._has_consensus_state():
            return False
        if self.observer:
            return True
        if self.pg is None or not self.marker.exists():
            return False
        state = pg.datadir if pg is not None else datadir_state(self.pg.options.datadir)
        return state is DataDirState.EMPTY

    # ------------------------------------------------------------------ replicated state
    def _apply(self, entry: Entry) -> None:
        if entry.type is not EntryType.NORMAL or not entry.data:
            return
        with self._lock:
            before = self._state.settings
            try:
                self._state = self._state.apply(entry.data)
            except CommandError as exc:
                log.error("committed entry %d cannot be applied, skipped on every node: %s", entry.index, exc)
                return
            after = self._state.settings
        if after != before:
            self._reconfigure(after)

    def _restore(self, snapshot: RaftSnapshot) -> None:
        with self._lock:
            self._state = ClusterState.from_snapshot(snapshot.data, self.config.cluster)
            settings = self._state.settings
        self._reconfigure(settings)

    def _reconfigure(self, settings: ClusterSettings) -> None:
        if self.runtime is not None:
            self.runtime.set_config(core_config(self.my_id, settings, self.config.tick_interval, self.observer))
            log.info("cluster settings changed: node-timeout %.3fs, heartbeat-interval %.3fs",
                     settings.node_timeout, settings.heartbeat_interval)

    def cluster_state(self) -> ClusterState:
        with self._lock:
            return self._state

    # ------------------------------------------------------------------ the HA loop
    def _ha_loop(self) -> None:
        last_status: RuntimeStatus | None = None
        due = 0.0  # when the next full cycle is due if nothing calls for one sooner
        while not self._stop.is_set():
            try:
                if self._quick() or time.monotonic() >= due or self._changed():
                    due = time.monotonic() + HA_INTERVAL
                    self._cycle()
            except Exception:  # one bad cycle must not end supervision; say why and go on
                log.exception("HA cycle failed")
            # Wake at once when leadership changes: a leader that lost its lease fences now.
            # A leader does not glance while no long operation runs: what a glance would see
            # first (its database's process, role or WAL moving) decides nothing of a leader's
            # sooner than its next full cycle. Its bootstrap ending does: the others wait for it.
            leads = last_status is not None and last_status.is_leader and self.executor.running() is None
            glance = HA_INTERVAL if leads else glance_interval(self.cluster_state().settings)
            interval = QUICK_INTERVAL if self._quick() else min(glance, max(0.0, due - time.monotonic()))
            status = self.runtime.wait_status(lambda s, prev=last_status: s != prev or self._nudged.is_set(),
                                              interval)
            # Cleared before the next cycle reads the world: a nudge after this is waited on
            # no longer than it takes to come back here.
            self._nudged.clear()
            if status is not None:  # None: the wait timed out, and the last status still holds
                last_status, due = status, 0.0

    def _nudge(self) -> None:
        """Wake the HA loop for a full cycle now (from another thread)."""
        self._nudged.set()
        if self.runtime is not None:
            self.runtime.nudge()

    def _on_peer_hello(self, node_id: int, info: bytes) -> None:
        """The receiving thread heard a peer's beacon change. When the leader's database
        changes role or long operation, the HA loop acts on it now rather than at its next
        glance: a new replica clones as soon as the leader's database is created."""
        try:
            leader = self.runtime.status().leader if self.runtime is not None else None
        except RuntimeError:  # not opened yet: nobody leads for this node so far
            return
        if node_id != leader:
            return
        beacon = Beacon.decode(info)
        if beacon is None:
            return
        heard = (node_id, beacon.db_role, beacon.operation)
        if heard != self._leader_db_heard:
            self._leader_db_heard = heard
            self._nudge()

    def _quick(self) -> bool:
        return self._switchover.target is not None or time.monotonic() < self._quick_until

    def _changed(self) -> bool:
        """Between full cycles: whether a long operation started or ended, the leader's database
        changed role, or the local database changed since the last full cycle read it."""
        snap = self._snapshot
        if snap is None:
            return True
        running = self.executor.running()
        if (running.kind if running else None) is not snap.operation:
            return True
        if self._leader_db_changed(snap):
            return True
        try:
            return self.pg is not None and snap.pg is not None and self.pg.changed_since(snap.pg)
        except Exception:  # the full cycle reads the database again and says what failed
            return True

    def _leader_db_changed(self, snap: AgentSnapshot) -> bool:
        """The leader (not me) announced another database role, or another long operation, than
        the last full cycle saw: a new replica waits for the leader's database to run as the
        primary, and to be created, before it clones; a replica follows a new leader once its
        database is promoted."""
        leader = snap.raft.leader
        if leader in (0, self.my_id):
            return False
        peer = self.transport.peers().get(leader)
        if peer is None or time.monotonic() - peer.last_seen > 3 * self.config.hello_retry_interval:
            return False  # not fresh: the full cycle leaves it out of the view as well
        beacon = Beacon.decode(peer.info)
        if beacon is None:
            return False
        before = snap.beacons.get(leader)
        return before is None or (before.db_role, before.operation) != (beacon.db_role, beacon.operation)

    def _cycle(self) -> None:
        """One full cycle: read the world, see it as one AgentSnapshot, decide, act, say why."""
        now = time.monotonic()
        self._take_finished(now)
        running, pg, status = self._read()
        snap = self._view(status, pg, now, running)
        decision = decide(cluster_view(snap), pg, now) if pg is not None else Decision(
            Action.NOTHING, f"I am node {self.my_id}, an observer without a database; nothing to do")
        if decision.reason != self._last_reason:
            log.info("%s", decision.reason)
            self._last_reason = decision.reason
        self._act(decision, status, snap)
        self.transport.set_hello(self._beacon(pg, decision, None).encode())
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
              running: RunningOperation | None) -> AgentSnapshot:
        """The AgentSnapshot decide() sees, after the vote position and the switchover took in what was read."""
        before = self._snapshot.pg if self._snapshot is not None else None
        if before is not None and before.streaming and pg is not None and not pg.streaming:
            self._quick_until = now + QUICK_AFTER_STREAMING
        if pg is not None:
            vote = self._vote.observe(pg)
            if vote.context is not None:
                self.runtime.set_vote_context(vote.context)
        self._expire_switchover(status, now)
        snap = self._snapshot_of(status, pg, now, running)
        leader_beacon = snap.beacons.get(status.leader) if status.leader not in (0, self.my_id) else None
        if leader_beacon is not None and leader_beacon.switchover_to is not None:
            # The target must announce the leader's last WAL as soon as it has it, and the
            # others follow the new leader as soon as it leads: both are on the write gap.
            self._quick_until = max(self._quick_until, now + QUICK_AFTER_STREAMING)
        return snap

    def _act(self, decision: Decision, status: RuntimeStatus, snap: AgentSnapshot) -> None:
        """decide()'s action on the database, then the duties beside it: a leader's hand-over
        and membership, and a requested reinit."""
        if self._runner is not None and not self._stop.is_set():
            if decision.action is Action.BOOTSTRAP:
                # Announced as being created from now until its roles are set up, even if the
                # initdb ends before this cycle does (agent/views.py: Member.db_bootstrapping).
                self._creating_database = True
            self._runner.run(decision)
        if status.is_leader:
            self._hand_over(snap)
            self._lead(status, snap)
        self._maybe_reinit(snap)

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
                     running: RunningOperation | None) -> AgentSnapshot:
        peers = self.transport.peers()
        fresh_for = 3 * self.config.hello_retry_interval
        beacons: dict[int, Beacon] = {}
        last_seen: dict[int, float] = {self.my_id: 0.0}
        for node_id, peer in peers.items():
            last_seen[node_id] = max(0.0, now - peer.last_seen)
            beacon = Beacon.decode(peer.info)
            if beacon is not None and last_seen[node_id] <= fresh_for:
                beacons[node_id] = beacon
        beacons[self.my_id] = self._beacon(pg, None, None)
        return AgentSnapshot(
            my_id=self.my_id, raft=status, state=self.cluster_state(), beacons=beacons, last_seen=last_seen,
            pg=pg, add_node_marker=self.marker.exists(), switchover_target=self._switchover.target_for_decide(pg),
            operation=running.kind if running else None, operation_started_at=running.started_at if running else None,
            agent_alive=True, retry_not_before=self._retry_pause.not_before, last_failure=self._last_failure)

    def _beacon(self, pg: PgStatus | None, decision: Decision | None, operation: str | None) -> Beacon:
        running = self.executor.running()
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
            operation=operation or (running.kind.value if running else None) or (
                LongOperation.BOOTSTRAP.value if self._creating_database else None),
            decision=decision.reason if decision else self._last_reason,
            vote_context=self._vote.context if self._vote is not None else 0,
            switchover_to=self._switchover.target,
            newcomer=self._newcomer(pg),
        )

    # ------------------------------------------------------------------ leader duties
    def _lead(self, status: RuntimeStatus, snap: AgentSnapshot) -> None:
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

    def _expire_switchover(self, status: RuntimeStatus, now: float) -> None:
        dropped = self._switchover.expire(status.is_leader, status.leader, now)
        if dropped is not None:
            (log.info if not status.is_leader else log.warning)("%s", dropped)

    def _hand_over(self, snap: AgentSnapshot) -> None:
        handover = self._switchover.hand_over(snap.pg, self._vote.context if self._vote else 0, snap.beacons,
                                              snap.raft.voters, self._position_of)
        if handover is not None and handover.to is not None:
            self.runtime.transfer_leader(handover.to)

    def _position_of(self, beacon: Beacon) -> WalMark | None:
        """What the database of the member announcing `beacon` says its position is now."""
        return self.pg.position_of(Endpoint(beacon.address, beacon.db_port))

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

    def _maybe_reinit(self, snap: AgentSnapshot) -> None:
        step = self._reinit.due(snap)
        if step is not None and self._runner.reinit(step.source):
            log.info("%s", step.reason)
            self._reinit.started(step)

    # ------------------------------------------------------------------ for the API
    def snapshot(self) -> AgentSnapshot | None:
        with self._lock:
            snap = self._snapshot
        if snap is None:
            return None
        alive = time.monotonic() - self._last_cycle < max(ALIVE_WITHIN, 3 * HA_INTERVAL)
        return snap if alive == snap.agent_alive else replace(snap, agent_alive=alive)

    def health(self) -> NodeHealth:
        snap = self.snapshot()
        if snap is None:
            return NodeHealth(False, False, False, False, False, False, None, self.observer, self.my_id)
        return node_health(snap)

    def cluster_map(self) -> dict[str, Any]:
        snap = self.snapshot()
        if snap is None:
            return {"cluster_id": self.config.cluster_id, "term": 0, "leader": None, "members": []}
        return cluster_map(snap, self.config.cluster_id, 3 * self.config.hello_retry_interval)

    def propose_and_wait(self, command: bytes) -> int:
        return self.runtime.propose(command).result(PROPOSAL_TIMEOUT)

    def new_request_id(self) -> str:
        return uuid.uuid4().hex[:12]


def _log_failed_proposal(future: Future) -> None:
    exc = future.exception()
    if exc is not None:
        log.info("membership proposal not committed: %s", exc)
