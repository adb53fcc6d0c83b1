"""The consensus runtime: the one loop that drives a RawNode with real time, disk and network.

Each cycle: sleep until the first tick that may act is due (RawNode.ticks_until_due: a
follower's election timeout, a leader's next heartbeat or lease end, ...) or until datagrams or
a command arrive (an idle leader does not wake for datagrams: RawNode.awaits_answers); count
every tick interval that passed (the ones slept through as well, so the
core's clock stays exact) and step the datagrams in; then handle every Ready in the order the
core's safety depends on: persist (fsync when must_sync), send, apply, advance.  A vote or an
acknowledgement therefore leaves only after the state it depends on is on disk.  An idle
follower wakes only for its leader's heartbeats, an idle leader only to send them.

Other threads talk to the loop through a command queue, which wakes it, and read an immutable
RuntimeStatus; they never touch the RawNode.  `run_once()` is public so tests can drive the
loop by hand with a fake clock and transport.
"""
from __future__ import annotations

import logging
import queue
import random
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, List, Optional, Protocol, Sequence, Tuple

from .codec import DecodeError, decode, encode
from .config import CoreConfig
from .errors import ProposalDropped
from .rawnode import RawNode
from .ready import Ready
from .types import NONE, ConfChange, ConfState, Entry, HardState, Message, MessageType, Role, Snapshot

_log = logging.getLogger(__name__)
MAX_CATCH_UP_TICKS = 1000  # after a long stall, tick at most this many times at once
# How late the loop came to a due tick, counted by bound (seconds): the measure of whether the
# consensus kept its timing on a busy host (GET /metrics: qluster_consensus_loop_late_total).
LATE_BOUNDS = (0.05, 0.1, 0.2, 0.5, 1.0)
LATE_LOGGED = 0.2  # a delay this long is logged with its time


class TransportLike(Protocol):
    def send(self, to: Optional[int], payload: bytes) -> None:
        ...

    def recv(self, timeout: float, messages_wake: bool = True) -> List[Tuple[int, bytes]]:
        """What arrived, waiting up to `timeout` for the first message (or only for a wake()
        when messages_wake is False)."""

    def wake(self) -> None:
        """End a recv() wait at once (it may then return nothing)."""

    def drain(self) -> None:
        """Take in what already waits in the socket, for the next recv(), on the caller's thread."""

    def close(self) -> None:
        ...


class StorageLike(Protocol):
    def load(self) -> Tuple[HardState, Optional[Snapshot], List[Entry]]:
        ...

    def save(self, hard_state: Optional[HardState], entries: Sequence[Entry], snapshot: Optional[Snapshot],
             sync: bool) -> None:
        ...

    def close(self) -> None:
        ...


# The messages for which the runtime reads this node's vote position again (vote_context_now)
# just before the core handles them, and whether it abstains (drops the message) when there is
# none. A (pre-)vote is answered with the position held now: the database may have confirmed
# commits since the HA loop last set it. A TimeoutNow's campaign starts at once and must carry the
# position held now (the old leader may have read it from this node's database directly, a
# switchover's handover); without one it campaigns as it stood.
READ_POSITION_FOR = {MessageType.VOTE: True, MessageType.PRE_VOTE: True, MessageType.TIMEOUT_NOW: False}


@dataclass(frozen=True)
class RuntimeStatus:
    node_id: int
    role: Role
    leader: int  # 0 when unknown
    term: int
    voters: FrozenSet[int]
    observers: FrozenSet[int]
    commit: int
    applied: int

    @property
    def is_leader(self) -> bool:
        return self.role == Role.LEADER


class ConsensusRuntime:
    """Drives one RawNode.  Callbacks run on the loop thread, in log order.

    apply(entry)       every committed entry (conf changes included, already applied to membership)
    restore(snapshot)  replace the state machine by snapshot.data (a leader's snapshot, bootstrap)
    snapshot_source(i) the state machine's bytes as of applied index i, for log compaction
    """

    def __init__(self, config: CoreConfig, storage: StorageLike, transport: TransportLike, *,
                 tick_interval: float, apply: Callable[[Entry], None],
                 restore: Optional[Callable[[Snapshot], None]] = None,
                 snapshot_source: Optional[Callable[[int], bytes]] = None,
                 bootstrap: Optional[ConfState] = None, rng: Optional[random.Random] = None,
                 clock: Callable[[], float] = time.monotonic,
                 logger: Optional[Callable[[str], None]] = None,
                 vote_context_now: Optional[Callable[[], Optional[int]]] = None) -> None:
        if tick_interval <= 0:
            raise ValueError("tick_interval must be > 0")
        self._config = config
        self._storage = storage
        self._transport = transport
        self._tick_interval = tick_interval
        self._apply = apply
        self._restore = restore
        self._snapshot_source = snapshot_source
        self._bootstrap = bootstrap
        self._rng = rng or random.Random()
        self._clock = clock
        self._logger = logger or _log.info
        # Read just before a (pre-)vote request is answered: the context set_vote_context left
        # may predate commits this node has since confirmed to the leader's database.
        self._vote_context_now = vote_context_now
        self._last_abstained: Tuple[int, int] = (0, 0)  # (term, candidate): logged once each
        self._commands: "queue.SimpleQueue[Callable[[RawNode], None]]" = queue.SimpleQueue()
        self._pending: Dict[int, Tuple[int, Future]] = {}  # index -> (term, future)
        self._status_lock = threading.Condition()
        self._status: Optional[RuntimeStatus] = None
        self._node: Optional[RawNode] = None
        self._applied = 0
        self._next_tick = 0.0  # when the next tick() is due
        self._skipped = 0  # ticks slept through that this cycle has not counted yet
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.counters: Dict[str, int] = {"undecodable": 0, "spoofed": 0, "send_failed": 0,
                                         "leader_changes": 0, "stepped_down": 0}
        self.late_counts: Dict[float, int] = {bound: 0 for bound in LATE_BOUNDS}
        self.late_max = 0.0
        self._last_leader = NONE
        self._replaying = False

    # ---- lifecycle
    def open(self) -> None:
        """Load durable state and build the node (no thread; see start())."""
        hard_state, snapshot, entries = self._storage.load()
        self._node = RawNode(self._config, self._rng, hard_state=hard_state, snapshot=snapshot, entries=entries,
                             bootstrap=self._bootstrap, snapshot_source=self._snapshot_source,
                             logger=self._logger)
        # What is replayed from disk here was committed long ago and has spread: its settings
        # take effect at once, not blended in (set_config).
        self._replaying = True
        try:
            if snapshot is not None and self._restore is not None:
                self._restore(snapshot)  # the state machine restarts from the snapshot, then re-applies
            self._applied = snapshot.index if snapshot is not None else 0
            self._next_tick = self._clock() + self._tick_interval
            self._handle_readies()
        finally:
            self._replaying = False
        if self._bootstraps_alone(hard_state, snapshot, entries):
            # The only voter of a configuration made just now: no other voter can lead it, split
            # its vote or be disturbed by its pre-vote, so the election timeout would only delay
            # the first leader (etcd fast-forwards a new member's election ticks the same way).
            # The campaign is the usual one: a pre-vote, then a vote at term 1.
            self._node.campaign()
            self._handle_readies()
        self._publish_status()

    def _bootstraps_alone(self, hard_state: HardState, snapshot: Optional[Snapshot], entries: Sequence[Entry]) -> bool:
        """Whether open() just started a new cluster whose one voter is this node."""
        return (self._bootstrap is not None and self._bootstrap.voters == frozenset({self._config.node_id})
                and snapshot is None and not entries and hard_state == HardState())

    def start(self) -> None:
        self.open()
        self._thread = threading.Thread(target=self._run, name=f"qraft-{self._config.node_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._transport.wake()  # the loop may be asleep until a distant election timeout
        if self._thread is not None:
            self._thread.join(timeout)
        self._fail_pending("runtime stopped")
        self._storage.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep the reason in the log; the node must not stay half-alive
                _log.exception("consensus loop failed; stopping")
                self._stop.set()
                self._fail_pending("consensus loop failed")
                raise

    # ---- the loop body
    def run_once(self) -> None:
        node = self._require_node()
        cpu_before = time.thread_time()
        # The ticks before the due one only count (ticks_until_due): sleep through them.
        due = node.ticks_until_due()
        due_at = self._next_tick + (due - 1) * self._tick_interval
        # An idle leader takes its followers' answers at its due tick, all at once: they only
        # keep its lease. That is one wake-up per heartbeat instead of one per answer.
        received = self._transport.recv(max(0.0, due_at - self._clock()), messages_wake=node.awaits_answers())
        now = self._clock()
        if now - due_at >= self._tick_interval:
            # A tick or more late: the host was frozen or starved, and the receiving thread may
            # not have taken in what came meanwhile. Answers counted only after the catch-up
            # ticks would end a lease that a quorum kept (seen in the lab: a leader frozen for
            # 0.34 s, lease 0.45 s, stepped down).
            self._transport.drain()
            received += self._transport.recv(0)
        self._skipped = self._ticks_passed(now, limit=due - 1)
        if node.status().role != Role.LEADER:
            # They came before whatever woke the loop: a heartbeat counts the silence from when
            # it came, not from the last wake, so a follower never times out early.
            self._count_skipped_ticks(node)
        # Commands first: whatever another thread queued before these datagrams arrived was
        # meant to hold when they are handled. A switchover's target announces its new WAL
        # position (set_vote_context, then its hello); the TimeoutNow that answers the hello
        # must start a campaign carrying that position, not the one before.
        self._run_commands(node)
        for sender, payload in received:
            self._receive(node, sender, payload)
        # A leader counts them after the answers: an answer is then credited to its lease at a
        # tick no later than it came, even if the loop took a while to take it in.
        self._count_skipped_ticks(node)
        if now >= due_at:  # woke for the due tick: how late, for the metrics
            self._note_lateness(now - due_at, time.thread_time() - cpu_before)
        ticks = 0
        while now >= self._next_tick and ticks < MAX_CATCH_UP_TICKS:
            # one tick per elapsed interval, even after a stall: a leader that was frozen must
            # count the lease time that really passed, not pretend it did not. These come after
            # the datagrams, so the answers that queued meanwhile are counted first.
            node.tick()
            ticks += 1
            self._next_tick += self._tick_interval
        if now >= self._next_tick:
            self._next_tick = now + self._tick_interval
        self._handle_readies()
        self._publish_status()

    def _ticks_passed(self, now: float, limit: int) -> int:
        """How many tick intervals have ended by `now`, at most `limit`."""
        if now < self._next_tick:
            return 0
        return min(limit, int((now - self._next_tick) // self._tick_interval) + 1)

    def _count_skipped_ticks(self, node: RawNode) -> None:
        for _unused in range(self._skipped):
            node.tick()
            self._next_tick += self._tick_interval
        self._skipped = 0

    def _note_lateness(self, late: float, cpu: float = 0.0) -> None:
        if late <= 0:
            return
        self.late_max = max(self.late_max, late)
        if late >= LATE_LOGGED:
            # Rare, and what an operator needs to explain a lost lease: when, and how long. The
            # thread's own CPU time in that wait tells work (much) from waiting for a CPU or the
            # interpreter lock (little).
            self._logger(f"n{self._config.node_id} consensus loop ran {late:.3f} s late, {cpu * 1000:.1f} ms "
                         f"of its own CPU meanwhile (a lease is {self._config.lease_ticks} ticks of "
                         f"{self._tick_interval:g} s)")
        for bound in LATE_BOUNDS:
            if late < bound:
                break
            self.late_counts[bound] += 1

    def _receive(self, node: RawNode, sender: int, payload: bytes) -> None:
        try:
            msg = decode(payload)
        except DecodeError:
            self.counters["undecodable"] += 1
            return
        if msg.frm != sender:
            self.counters["spoofed"] += 1  # authenticated as `sender` but claims to be someone else
            return
        if not self._read_vote_position(node, msg):
            return
        if msg.term > node.term:
            # A newer term ends a leader's leadership; the ticks it slept through came before
            # and are counted as its own, not as the new follower's silence.
            self._count_skipped_ticks(node)
        node.step(msg)

    def _read_vote_position(self, node: RawNode, msg: Message) -> bool:
        """The vote position read again for the messages it decides (READ_POSITION_FOR), just
        before they are handled; False when `msg` is to be dropped: this node abstains.

        The other way the position enters is the HA loop's set_vote_context, once a cycle; both
        end in RawNode.set_vote_context, the core's one door for it.
        """
        abstains_without = READ_POSITION_FOR.get(msg.type)
        if abstains_without is None or self._vote_context_now is None:
            return True
        if self._refresh_vote_context(node) or not abstains_without:
            return True
        # Not answered at all, as if lost: to the candidate this node is unreachable,
        # which Raft tolerates; the other voters decide by their own positions.
        self.counters["votes_abstained"] = self.counters.get("votes_abstained", 0) + 1
        if (msg.term, msg.frm) != self._last_abstained:
            self._last_abstained = (msg.term, msg.frm)
            self._logger(f"n{self._config.node_id} abstains from the {msg.type.name.lower()} of {msg.frm} "
                         f"at term {msg.term}: its own WAL position cannot be read now")
        return False

    def _refresh_vote_context(self, node: RawNode) -> bool:
        """Set the context read now; False when the hook says this node must abstain (None):
        it cannot tell how far its WAL goes, so any answer could elect a candidate lacking
        commits it confirmed."""
        try:
            context = self._vote_context_now()
        except Exception:  # the last context still holds: a vote must be answered either way
            self.counters["vote_context_failed"] = self.counters.get("vote_context_failed", 0) + 1
            _log.exception("reading the WAL position for a vote failed; answering with the last one")
            return True
        if context is None:
            return False
        node.set_vote_context(context)
        return True

    def _run_commands(self, node: RawNode) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command(node)

    def _handle_readies(self) -> None:
        node = self._require_node()
        while node.has_ready():
            rd = node.ready()
            self._storage.save(rd.hard_state, rd.entries, rd.snapshot, rd.must_sync)  # 1. persist
            for msg in rd.messages:  # 2. send
                try:
                    self._transport.send(msg.to, encode(msg))
                except (ValueError, RuntimeError) as exc:
                    self.counters["send_failed"] += 1
                    _log.warning("cannot send %s: %s", msg.describe(), exc)
            self._apply_ready(rd)  # 3. apply
            node.advance(rd)  # 4. advance

    def _apply_ready(self, rd: Ready) -> None:
        if rd.apply_snapshot and rd.snapshot is not None:
            if self._restore is not None:
                self._restore(rd.snapshot)
            self._applied = rd.snapshot.index
            for index in [i for i in self._pending if i <= rd.snapshot.index]:
                _term, future = self._pending.pop(index)
                future.set_exception(ProposalDropped("replaced by a leader's snapshot; outcome unknown"))
        for entry in rd.committed_entries:
            self._apply(entry)
            self._applied = entry.index
            waiting = self._pending.pop(entry.index, None)
            if waiting is not None:
                term, future = waiting
                if term == entry.term:
                    future.set_result(entry.index)
                else:
                    future.set_exception(ProposalDropped(f"index {entry.index} was taken by another leader"))

    # ---- API for other threads
    def status(self) -> RuntimeStatus:
        with self._status_lock:
            if self._status is None:
                raise RuntimeError("runtime not opened")
            return self._status

    def wait_status(self, predicate: Callable[[RuntimeStatus], bool], timeout: float) -> Optional[RuntimeStatus]:
        """Block until a published status satisfies `predicate`; None on timeout."""
        with self._status_lock:
            ok = self._status_lock.wait_for(lambda: self._status is not None and predicate(self._status), timeout)
            return self._status if ok else None

    def nudge(self) -> None:
        """Make every wait_status() caller look at its predicate again now: a caller that waits
        for more than consensus news (the HA loop: a long operation ending) is woken by it."""
        with self._status_lock:
            self._status_lock.notify_all()

    def propose(self, data: bytes) -> "Future[int]":
        """Resolves with the entry's index once it is committed and applied here."""
        payload = bytes(data)
        return self._submit(lambda node: node.propose(payload))

    def propose_conf_change(self, change: ConfChange) -> "Future[int]":
        return self._submit(lambda node: node.propose_conf_change(change))

    def transfer_leader(self, to_id: int) -> None:
        self._command(lambda node: node.transfer_leader(to_id))

    def campaign(self) -> None:
        self._command(lambda node: node.campaign())

    def set_config(self, config: CoreConfig) -> None:
        """Apply new timing and policy (POST /config) on the loop thread; the node id stays."""
        if config.node_id != self._config.node_id:
            raise ValueError("set_config cannot change the node id")
        self._config = config
        if self._replaying:  # open(), on this thread: settings of the log as saved on disk
            self._require_node().set_config(config, blend=False)
            return

        def command(node: RawNode) -> None:
            node.set_config(config)

        self._command(command)

    def set_vote_context(self, value: int) -> None:
        """This node's WAL position as an int (0 when unknown); call it every supervisor cycle."""
        # Queued without waking the loop: the position matters only to a vote request, which
        # wakes it as a datagram and is handled after the commands, and to a campaign, which
        # starts on a wake too (its timeout, a TimeoutNow, campaign()).
        self._commands.put(lambda node: node.set_vote_context(value))

    def _submit(self, propose: Callable[[RawNode], int]) -> "Future[int]":
        future: "Future[int]" = Future()

        def command(node: RawNode) -> None:
            try:
                index = propose(node)
            except ProposalDropped as exc:
                future.set_exception(exc)
                return
            self._pending[index] = (node.term, future)

        self._command(command)
        return future

    def _command(self, command: Callable[[RawNode], None]) -> None:
        """Queue `command` and wake the loop: it may be asleep until a distant due tick."""
        self._commands.put(command)
        self._transport.wake()

    # ---- helpers
    def _publish_status(self) -> None:
        node = self._require_node()
        now = node.status()
        status = RuntimeStatus(node_id=self._config.node_id, role=now.role, leader=now.leader, term=now.term,
                               voters=now.conf.voters, observers=now.conf.observers, commit=now.commit,
                               applied=self._applied)
        with self._status_lock:
            if status != self._status:
                self._count_changes(self._status, status)
                self._status = status
                self._status_lock.notify_all()

    def _count_changes(self, before: Optional[RuntimeStatus], after: RuntimeStatus) -> None:
        if before is None:
            return
        # An election passes through "no leader": compare with the last leader known, and the
        # first leader a starting node learns of is no change.
        if after.leader not in (NONE, self._last_leader) and self._last_leader != NONE:
            self.counters["leader_changes"] += 1
        if after.leader != NONE:
            self._last_leader = after.leader
        if before.role == Role.LEADER and after.role != Role.LEADER:
            self.counters["stepped_down"] += 1

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for _term, future in pending.values():
            if not future.done():
                future.set_exception(ProposalDropped(reason))

    def _require_node(self) -> RawNode:
        if self._node is None:
            raise RuntimeError("call open() or start() first")
        return self._node


__all__ = ["ConsensusRuntime", "RuntimeStatus", "NONE"]
