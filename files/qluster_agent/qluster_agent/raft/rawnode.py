"""RawNode: the public face of the core.  Feed it ticks and messages, drain Ready batches."""
from __future__ import annotations

import random
from typing import Callable, List, Optional, Sequence

from . import leader
from .config import CoreConfig
from .core import Logger, Raft
from .errors import ProposalDropped
from .ready import Ready
from .types import (LOCAL_TYPES, ConfChange, ConfState, Entry, EntryType, HardState, Message,
                    MessageType, NodeStatus, Role, Snapshot)

SnapshotSource = Callable[[int], bytes]


class RawNode:
    """One consensus participant.  Not thread-safe: one owner calls every method.

    Start it from what DiskStorage.load() returned.  A brand-new cluster's first nodes pass
    `bootstrap` (the initial voters, identical on each); it becomes a snapshot at index 1, term 1
    that the first Ready persists, so a restart does not need it again.  Index 1 rather than 0:
    an empty joining node then fails the leader's first consistency check and is sent the
    snapshot, membership included, instead of entries that would not tell it who the voters are.  A node that joins an existing cluster
    passes nothing and waits for the leader to add it and send it the log.

    snapshot_source(index) returns the layer above's state as of `index` (applied); the core calls
    it from advance() every CoreConfig.snapshot_threshold applied entries and compacts its log.
    """

    def __init__(self, config: CoreConfig, rng: random.Random, *,
                 hard_state: HardState = HardState(), snapshot: Optional[Snapshot] = None,
                 entries: Sequence[Entry] = (), bootstrap: Optional[ConfState] = None,
                 snapshot_source: Optional[SnapshotSource] = None,
                 logger: Optional[Logger] = None) -> None:
        self.events: List[str] = []  # transition lines when no logger is given; drain_events()
        self._snapshot_source = snapshot_source
        pending_bootstrap = None
        if snapshot is None:
            if bootstrap is not None and not entries and hard_state == HardState():
                pending_bootstrap = Snapshot(1, 1, bootstrap)
            snapshot = pending_bootstrap or Snapshot(0, 0, ConfState())
        self.raft = Raft(config, rng, hard_state, snapshot, list(entries), logger or self.events.append)
        if pending_bootstrap is not None:
            # the state machine starts from this (empty) snapshot like from a leader's one
            self.raft.log.pending_snapshot = pending_bootstrap
            self.raft.log.snapshot_is_remote = True
        self._prev_hard = hard_state
        self._prev_soft = self.raft.soft_state()

    # ---- inputs
    def tick(self) -> None:
        self.raft.tick()

    def ticks_until_due(self) -> int:
        """How many more tick() calls until one may do anything but count (>= 1); recompute it
        after every step, proposal or other call: any of them may bring the due tick closer."""
        return self.raft.ticks_until_due()

    def awaits_answers(self) -> bool:
        """Whether a message may change what this node does before ticks_until_due() says; when
        not, a runtime may leave received messages until then (recompute it like the due tick)."""
        return self.raft.awaits_answers()

    def set_config(self, config: CoreConfig, blend: bool = True) -> None:
        """New timing and policy (a POST /config applied): the one door config enters by after
        the node is built (etcd's rawnode shape). Timing changes are blended in unless `blend`
        is False (settings replayed from disk at start, long since spread)."""
        self.raft.set_config(config, blend)

    def step(self, msg: Message) -> None:
        """Feed a message received from a peer (local message types are refused)."""
        if msg.type in LOCAL_TYPES:
            raise ValueError(f"{msg.describe()} is local; use the RawNode methods")
        if msg.frm <= 0 or msg.to != self.raft.id:
            return  # multicast transports deliver everybody's traffic: keep only ours
        self.raft.step(msg)

    def campaign(self) -> None:
        """Start a pre-vote now instead of waiting for the election timeout."""
        self.raft.step(Message(MessageType.HUP, self.raft.id, self.raft.id))

    def propose(self, data: bytes) -> int:
        """Append `data` if this node leads; returns its index, raises ProposalDropped otherwise."""
        return self._propose(Entry(0, 0, EntryType.NORMAL, bytes(data)))

    def propose_conf_change(self, change: ConfChange) -> int:
        return self._propose(Entry(0, 0, EntryType.CONF_CHANGE, change.encode()))

    def _propose(self, entry: Entry) -> int:
        if self.raft.role != Role.LEADER:
            raise ProposalDropped(f"not the leader (leader is {self.raft.lead or 'unknown'})")
        return leader.propose(self.raft, entry)

    def transfer_leader(self, to_id: int) -> None:
        """Ask the leader to hand over to `to_id` (aborted after CoreConfig.transfer_ticks)."""
        if self.raft.role == Role.LEADER:
            self.raft.step(Message(MessageType.TRANSFER_LEADER, to_id, self.raft.id, term=self.raft.term))

    def set_vote_context(self, value: int) -> None:
        """This node's WAL position (0 when unknown): it refuses to vote for candidates with less."""
        self.raft.vote_context = value

    def compact(self, index: int, data: bytes) -> Snapshot:
        """Snapshot the layer above's state `data` as of `index` (<= applied) and drop older entries."""
        return self.raft.log.compact(index, self.raft.conf_at(index), data)

    # ---- outputs
    def status(self) -> NodeStatus:
        r = self.raft
        soft = r.soft_state()
        return NodeStatus(leader=soft.leader, role=soft.role, term=r.term, commit=r.log.committed, conf=r.conf)

    @property
    def term(self) -> int:
        return self.raft.term

    @property
    def conf(self) -> ConfState:
        return self.raft.conf

    def drain_events(self) -> List[str]:
        out, self.events[:] = list(self.events), []
        return out

    def has_ready(self) -> bool:
        r = self.raft
        return bool(r.hard_state() != self._prev_hard or r.soft_state() != self._prev_soft or r.msgs
                    or r.log.pending_snapshot is not None or r.log.unstable_entries()
                    or r.log.committed_to_apply())

    def ready(self) -> Ready:
        r = self.raft
        hard = r.hard_state()
        snap = r.log.pending_snapshot
        entries = r.log.unstable_entries()
        hard_changed = hard != self._prev_hard
        return Ready(
            hard_state=hard if hard_changed else None,
            entries=entries,
            snapshot=snap,
            apply_snapshot=snap is not None and r.log.snapshot_is_remote,
            committed_entries=r.log.committed_to_apply(),
            messages=tuple(r.msgs),
            soft_state=r.soft_state(),
            # commit is synced too (etcd does not): this log carries little traffic, and the
            # commit index a status reader saw then never goes back after a restart
            must_sync=hard_changed or bool(entries) or snap is not None,
        )

    def advance(self, rd: Ready) -> None:
        """The runtime persisted, sent and applied `rd`."""
        r = self.raft
        log = r.log
        if rd.entries:
            last = rd.entries[-1]
            log.stable_to(last.index, last.term)
        if rd.snapshot is not None:
            if log.pending_snapshot == rd.snapshot:
                log.pending_snapshot = None
            if rd.apply_snapshot:
                log.applied = max(log.applied, rd.snapshot.index)
        if rd.committed_entries:
            log.applied = max(log.applied, rd.committed_entries[-1].index)
        if rd.hard_state is not None:
            self._prev_hard = rd.hard_state
        self._prev_soft = rd.soft_state
        del r.msgs[:len(rd.messages)]
        self._maybe_compact()

    def _maybe_compact(self) -> None:
        log = self.raft.log
        if (self._snapshot_source is not None and log.pending_snapshot is None
                and log.applied - log.snapshot.index >= self.raft.cfg.snapshot_threshold):
            self.compact(log.applied, self._snapshot_source(log.applied))
