"""Seeded fault-injection simulator for the consensus core.

`Sim(seed).run()` builds a small cluster of RawNodes on MemoryStorage and, driven by one RNG,
ticks, delivers, drops, duplicates and reorders messages, partitions the network, crashes and
restarts nodes (restart from what was fsynced), changes membership, moves vote contexts,
transfers leadership and compacts logs.  After every delivery it checks the safety invariants;
after healing everything it checks that a leader appears and commits within a bounded time.
A violation raises InvariantViolation naming the seed, so `Sim(seed).run()` replays it.

    python -m tests.raft.sim --seeds 10000 [--start 0] [--jobs 2] [--steps 400]
prints "N seeds, M invariant violations".
"""
from __future__ import annotations

import argparse
import hashlib
import random
import struct
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

from qluster_agent.raft.config import CoreConfig
from qluster_agent.raft.errors import ProposalDropped
from qluster_agent.raft.rawnode import RawNode
from qluster_agent.raft.types import ConfChange, ConfChangeType, ConfState, Entry, Message, Role, Snapshot
from qluster_agent.storage.memory import MemoryStorage

_APP_STATE = struct.Struct(">Q32s")


class InvariantViolation(AssertionError):
    pass


class App:
    """The replicated state machine: a hash chain over applied entries (cheap to compare)."""

    def __init__(self, index: int = 0, digest: bytes = b"\0" * 32) -> None:
        self.index = index
        self.digest = digest

    @staticmethod
    def from_snapshot(snap: Optional[Snapshot]) -> "App":
        if snap is None or not snap.data:
            return App(snap.index if snap else 0)
        index, digest = _APP_STATE.unpack(snap.data)
        return App(index, digest)

    def apply(self, entry: Entry) -> None:
        if entry.index != self.index + 1:
            raise InvariantViolation(f"applied {entry.index} after {self.index}")
        self.digest = hashlib.sha256(self.digest + struct.pack(">QB", entry.term, entry.type) + entry.data).digest()
        self.index = entry.index

    def snapshot(self, index: int) -> bytes:
        if index != self.index:
            raise InvariantViolation(f"snapshot asked at {index}, app is at {self.index}")
        return _APP_STATE.pack(self.index, self.digest)


@dataclass
class SimNode:
    node_id: int
    storage: MemoryStorage
    node: Optional[RawNode] = None  # None while crashed
    app: App = field(default_factory=App)
    checked_commit: int = 0


class Sim:
    def __init__(self, seed: int, steps: int = 400, verbose: bool = False) -> None:
        self.seed = seed
        self.rng = random.Random(seed)  # the only source of randomness
        self.steps = steps
        self.verbose = verbose
        rng = self.rng
        self.voters = rng.choice([1, 3, 3, 3, 5, 5])
        self.pool = self.voters + 2  # ids that may join later
        self.pooler = self.pool + 1  # the pooler host: observer=True, only ever added as an observer
        self.base_cfg = dict(
            election_ticks=10, heartbeat_ticks=rng.choice([1, 2, 3]), prevote_ticks=rng.choice([5, 10]),
            vote_ticks=rng.choice([5, 10]), lease_ticks=rng.choice([6, 8, 9]),
            replication_retry_ticks=rng.choice([2, 3, 5]), transfer_ticks=rng.choice([5, 15]),
            autoremove_enabled=rng.random() < 0.3, autoremove_minimum=rng.choice([1, 2, 3]),
            remove_ticks=rng.choice([40, 80]), max_entries_per_msg=rng.choice([1, 3, 64]),
            snapshot_threshold=rng.choice([5, 10, 40]), max_uncommitted_entries=rng.choice([8, 64]),
            replication_factor=rng.choice([0, 0, 1, 2, 4]))
        self.drop = rng.choice([0.0, 0.05, 0.2])
        self.dup = rng.choice([0.0, 0.05])
        self.nodes: Dict[int, SimNode] = {}
        self.net: List[Message] = []
        self.groups: Optional[List[Set[int]]] = None  # None: fully connected
        self.contexts: Dict[int, int] = {}
        self.leader_of_term: Dict[int, int] = {}
        self.leaders_checked: Set[Tuple[int, int]] = set()  # (node, term) checked for completeness
        self.committed: Dict[int, Tuple[int, bytes]] = {}  # index -> (term, data), as ever committed
        self.applied_digest: Dict[int, bytes] = {}
        self.entry_seen: Dict[Tuple[int, int], Tuple[int, bytes]] = {}  # (index, term) -> (prev term, data)
        self.proposals = 0
        self.bootstrap = ConfState(frozenset(range(1, self.voters + 1)))
        for node_id in range(1, self.voters + 1):
            self._start(node_id)

    # ---- node lifecycle
    def _config(self, node_id: int) -> CoreConfig:
        return CoreConfig(node_id=node_id, observer=node_id == self.pooler, **self.base_cfg)  # type: ignore[arg-type]

    def _start(self, node_id: int) -> None:
        # The first members bootstrap the cluster (RawNode ignores this once storage holds state);
        # later ones start empty and wait for the leader.
        bootstrap = self.bootstrap if node_id in self.bootstrap.voters else None
        sn = self.nodes.get(node_id)
        if sn is None:
            sn = self.nodes[node_id] = SimNode(node_id, MemoryStorage())
        hs, snap, entries = sn.storage.load()
        sn.app = App.from_snapshot(snap)
        sn.checked_commit = 0
        sn.node = RawNode(self._config(node_id), random.Random(self.rng.getrandbits(32)), hard_state=hs,
                          snapshot=snap, entries=entries, bootstrap=bootstrap,
                          snapshot_source=lambda index, sn=sn: sn.app.snapshot(index),
                          logger=self._log)
        sn.node.set_vote_context(self.contexts.get(node_id, 0))

    def _crash(self, node_id: int) -> None:
        sn = self.nodes[node_id]
        sn.node = None
        sn.storage.crash()

    def _log(self, line: str) -> None:
        if self.verbose:
            print(line)

    def _live(self) -> List[SimNode]:
        return [sn for _unused, sn in sorted(self.nodes.items()) if sn.node is not None]

    # ---- the event loop
    def run(self) -> None:
        try:
            for _unused in range(self.steps):
                self._random_event()
            self._heal_and_check_liveness()
        except InvariantViolation as exc:
            raise InvariantViolation(f"seed {self.seed}: {exc}") from None
        except Exception as exc:  # a crash of the core is a violation too
            raise InvariantViolation(f"seed {self.seed}: {type(exc).__name__}: {exc}") from exc

    def _random_event(self) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.35:
            self._tick_all()
        elif roll < 0.80:
            for _unused in range(rng.randint(1, 8)):
                self._deliver_one()
        elif roll < 0.86:
            self._propose()
        elif roll < 0.89:
            self._partition_or_heal()
        elif roll < 0.92:
            self._crash_or_restart()
        elif roll < 0.94:
            self._change_membership()
        elif roll < 0.96:
            self._move_context()
        elif roll < 0.97:
            self._transfer()
        self._process_readies()

    def _tick_all(self) -> None:
        for sn in self._live():
            node = sn.node
            assert node is not None
            due = node.ticks_until_due()
            before = quiet_view(node) if due > 1 else None
            node.tick()
            if before is not None:
                self._check_quiet_tick(sn, before, due)

    def _connected(self, a: int, b: int) -> bool:
        if self.groups is None:
            return True
        return any(a in g and b in g for g in self.groups)

    def _deliver_one(self) -> None:
        if not self.net:
            return
        rng = self.rng
        pick = 0 if rng.random() < 0.5 else rng.randrange(len(self.net))  # reordering
        msg = self.net.pop(pick)
        if rng.random() < self.drop or not self._connected(msg.frm, msg.to):
            return
        if rng.random() < self.dup:
            self.net.insert(rng.randrange(len(self.net) + 1), msg)
        sn = self.nodes.get(msg.to)
        if sn is None or sn.node is None:
            return
        sn.node.step(msg)
        self._process_ready(sn)
        self._check(sn)

    def _process_readies(self) -> None:
        for sn in self._live():
            self._process_ready(sn)
            self._check(sn)

    def _process_ready(self, sn: SimNode) -> None:
        node = sn.node
        assert node is not None
        while node.has_ready():
            rd = node.ready()
            sn.storage.save(rd.hard_state, rd.entries, rd.snapshot, rd.must_sync)
            if rd.apply_snapshot and rd.snapshot is not None:
                sn.app = App.from_snapshot(rd.snapshot)
                self._check_applied(sn.app)
            for entry in rd.committed_entries:
                sn.app.apply(entry)
                self._check_applied(sn.app)
            self.net.extend(rd.messages)
            node.advance(rd)

    # ---- faults and operations
    def _propose(self) -> None:
        for sn in self._live():
            if sn.node.status().role == Role.LEADER:  # type: ignore[union-attr]
                self.proposals += 1
                try:
                    sn.node.propose(f"p{self.proposals}".encode())  # type: ignore[union-attr]
                except ProposalDropped:
                    pass

    def _partition_or_heal(self) -> None:
        if self.groups is not None or self.rng.random() < 0.3:
            self.groups = None
            return
        ids = sorted(self.nodes)
        self.rng.shuffle(ids)
        cut = self.rng.randint(1, len(ids) - 1) if len(ids) > 1 else 1
        self.groups = [set(ids[:cut]), set(ids[cut:])]

    def _crash_or_restart(self) -> None:
        down = [sn.node_id for sn in self.nodes.values() if sn.node is None]
        if down and self.rng.random() < 0.6:
            self._start(self.rng.choice(sorted(down)))
            return
        live = [sn.node_id for sn in self._live()]
        if live:
            self._crash(self.rng.choice(live))

    def _leader(self) -> Optional[SimNode]:
        leaders = [sn for sn in self._live() if sn.node.status().role == Role.LEADER]  # type: ignore[union-attr]
        return max(leaders, key=lambda sn: sn.node.term) if leaders else None  # type: ignore[union-attr]

    def _change_membership(self) -> None:
        sn = self._leader()
        if sn is None:
            return
        conf = sn.node.conf  # type: ignore[union-attr]
        target = self.rng.randint(1, self.pooler)
        if target in conf.members:
            promote = self.rng.random() < 0.3 and target in conf.observers and target != self.pooler
            kind = ConfChangeType.ADD_VOTER if promote else ConfChangeType.REMOVE
        elif target == self.pooler:
            kind = ConfChangeType.ADD_OBSERVER
        else:
            kind = self.rng.choice([ConfChangeType.ADD_VOTER, ConfChangeType.ADD_OBSERVER])
        if kind != ConfChangeType.REMOVE and target not in self.nodes:
            self._start(target)  # a fresh, empty node waiting to be added
        try:
            sn.node.propose_conf_change(ConfChange(kind, target))  # type: ignore[union-attr]
        except ProposalDropped:
            pass

    def _move_context(self) -> None:
        node_id = self.rng.choice(sorted(self.nodes))
        self.contexts[node_id] = self.contexts.get(node_id, 0) + self.rng.randint(1, 100)
        sn = self.nodes[node_id]
        if sn.node is not None:
            sn.node.set_vote_context(self.contexts[node_id])

    def _transfer(self) -> None:
        sn = self._leader()
        if sn is not None:
            sn.node.transfer_leader(self.rng.randint(1, self.pool))  # type: ignore[union-attr]

    # ---- invariants
    def _fail(self, text: str) -> None:
        raise InvariantViolation(text)

    def _check_applied(self, app: App) -> None:
        known = self.applied_digest.setdefault(app.index, app.digest)
        if known != app.digest:
            self._fail(f"applied state at index {app.index} differs between nodes")

    def _check(self, sn: SimNode) -> None:
        node = sn.node
        assert node is not None
        raft = node.raft
        log = raft.log
        if raft.role == Role.LEADER:
            first = self.leader_of_term.setdefault(raft.term, sn.node_id)
            if first != sn.node_id:
                self._fail(f"two leaders in term {raft.term}: {first} and {sn.node_id}")
            if (sn.node_id, raft.term) not in self.leaders_checked:
                self.leaders_checked.add((sn.node_id, raft.term))
                self._check_leader_completeness(sn)
        prev_term = log.snapshot.term
        for entry in log.entries:  # log matching: (index, term) fixes the entry and its predecessor
            seen = self.entry_seen.setdefault((entry.index, entry.term), (prev_term, entry.data))
            if seen != (prev_term, entry.data):
                self._fail(f"log matching broken at {entry.term}/{entry.index} on n{sn.node_id}")
            prev_term = entry.term
        for index in range(max(sn.checked_commit, log.snapshot.index) + 1, log.committed + 1):
            entry = log.entry(index)
            known = self.committed.setdefault(index, (entry.term, entry.data))
            if known != (entry.term, entry.data):
                self._fail(f"committed entry {index} changed on n{sn.node_id}: {known} vs {entry.term}")
        sn.checked_commit = max(sn.checked_commit, log.committed)

    def _check_quiet_tick(self, sn: SimNode, before: tuple, due: int) -> None:
        """A tick before the due one (ticks_until_due) must only count: the runtime sleeps
        through such ticks and counts them later, in another order with the messages."""
        node = sn.node
        assert node is not None
        if quiet_view(node) != before:
            self._fail(f"n{sn.node_id} acted on a tick {due - 1} before its due one")
        if node.ticks_until_due() != due - 1:
            self._fail(f"n{sn.node_id}: a quiet tick moved its due tick from {due} to {node.ticks_until_due()}, "
                       f"not {due - 1}")

    def _check_leader_completeness(self, sn: SimNode) -> None:
        log = sn.node.raft.log  # type: ignore[union-attr]
        for index, (term, _unused) in self.committed.items():
            if index > log.snapshot.index and log.term(index) != term:
                self._fail(f"new leader n{sn.node_id} lacks committed entry {term}/{index}")

    # ---- liveness
    def _heal_and_check_liveness(self) -> None:
        self.groups = None
        self.drop = 0.0
        self.dup = 0.0
        # After a heal the databases catch up; equal WAL positions let the log rule decide.
        for node_id in sorted(self.nodes):
            self.contexts[node_id] = 0
            if self.nodes[node_id].node is None:
                self._start(node_id)
            self.nodes[node_id].node.set_vote_context(0)  # type: ignore[union-attr]
        bound = 40 * self.base_cfg["election_ticks"]  # type: ignore[operator]
        committed_at = None
        target_index = None
        for tick in range(bound):
            self._tick_all()
            self._process_readies()
            while self.net:
                self._deliver_one()
            sn = self._leader()
            if sn is None or not self._leader_is_settled(sn):
                continue
            if target_index is None:
                try:
                    target_index = sn.node.propose(b"liveness")  # type: ignore[union-attr]
                except ProposalDropped:
                    continue
            elif all(self.nodes[v].node.raft.log.committed >= target_index  # type: ignore[union-attr]
                     for v in sn.node.conf.voters if v in self.nodes):  # type: ignore[union-attr]
                committed_at = tick
                break
        if committed_at is None:
            roles = {sn.node_id: (sn.node.status().role.value, sn.node.term, sorted(sn.node.conf.voters))  # type: ignore[union-attr]
                     for sn in self._live()}
            self._fail(f"no leader committing within {bound} ticks after heal: {roles}")

    def _leader_is_settled(self, sn: SimNode) -> bool:
        leader_id = sn.node_id
        for voter in sn.node.conf.voters:  # type: ignore[union-attr]
            other = self.nodes.get(voter)
            if other is None or other.node is None or other.node.status().leader != leader_id:
                return False
        return True


def quiet_view(node: RawNode) -> tuple:
    """What a tick that only counts leaves alone (checked here after every quiet tick, and by
    tests/raft/test_ticks_until_due.py). A draw from the rng shows as a new timeout,
    or as a due tick that did not come one closer."""
    r = node.raft
    return (r.role, r.term, r.vote, r.lead, r.log.committed, r.log.last_index(), r.conf, len(r.msgs),
            r.transferee, r.timeout, r.cfg)


def run_seeds(seeds: range, steps: int) -> List[str]:
    failures = []
    for seed in seeds:
        try:
            Sim(seed, steps=steps).run()
        except InvariantViolation as exc:
            failures.append(str(exc))
    return failures


def _run_chunk(args: Tuple[int, int, int]) -> List[str]:
    start, stop, steps = args
    return run_seeds(range(start, stop), steps)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--verbose-seed", type=int, default=None, help="replay one seed with transition logs")
    args = parser.parse_args(argv)
    if args.verbose_seed is not None:
        Sim(args.verbose_seed, steps=args.steps, verbose=True).run()
        return 0
    stop = args.start + args.seeds
    if args.jobs > 1:
        import multiprocessing
        chunk = max(1, args.seeds // (args.jobs * 8))
        parts = [(s, min(s + chunk, stop), args.steps) for s in range(args.start, stop, chunk)]
        with multiprocessing.Pool(args.jobs) as pool:
            failures = [f for part in pool.map(_run_chunk, parts) for f in part]
    else:
        failures = run_seeds(range(args.start, stop), args.steps)
    for failure in failures[:20]:
        print(failure)
    print(f"{args.seeds} seeds, {len(failures)} invariant violations")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
