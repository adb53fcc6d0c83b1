"""Golden transcript interpreter: runs tests/raft/testdata/*.txt against an in-memory cluster.

File format (after etcd-io/raft's datadriven tests):

    # comment lines and blank lines between blocks are kept
    command arg key=value
    ----
    expected output (no blank lines inside)

Commands:
    add-nodes N [voters=(1,2,3)] [observers=(4)] [observer=true] [election=10 lease=8 ...]
                            create N nodes with the next ids (bootstrapped when voters= is given)
    campaign ID             start a pre-vote now
    tick ID...|all [n=1]    tick node(s) n times, then process their Ready
    process-ready [ID...]   persist/send/apply Ready of nodes (all by default)
    deliver [ID...] [drop=true]   deliver queued messages addressed to the nodes (all by default)
    stabilize [ID...]       process-ready + deliver until nothing moves
    run n=N                 N times: tick every node once, stabilize; prints only events
    partition 1 | 2 3       only nodes of the same group can talk; `heal` removes it
    propose ID DATA         propose an entry; propose-conf-change ID add-voter|add-observer|remove N
    transfer-leader ID to=N
    compact ID INDEX        snapshot the app state at INDEX and compact
    set-vote-context ID VALUE
    crash ID / restart ID   lose unsynced state / start again from storage
    status [ID...]          role, term, leader, commit, applied, membership
    log ID                  the node's log
Run with QRAFT_REWRITE=1 to rewrite the expected output in place.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

from qluster_agent.raft import (ConfChange, ConfChangeType, ConfState, CoreConfig, Message, ProposalDropped,
                                RawNode)
from qluster_agent.storage.memory import MemoryStorage

_CONFIG_KEYS = {
    "election": "election_ticks", "heartbeat": "heartbeat_ticks", "prevote": "prevote_ticks",
    "vote": "vote_ticks", "lease": "lease_ticks", "retry": "replication_retry_ticks",
    "remove": "remove_ticks", "transfer": "transfer_ticks", "autoremove": "autoremove_enabled",
    "autoremove-minimum": "autoremove_minimum", "snapshot": "snapshot_threshold",
    "replication-factor": "replication_factor", "observer": "observer",
    "max-entries": "max_entries_per_msg",
}


@dataclass
class Block:
    header: List[str]  # comments and blank lines before the command
    command: str
    expected: List[str]


def parse(text: str) -> List[Block]:
    blocks: List[Block] = []
    header: List[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            header.append(line)
            i += 1
            continue
        command = line
        if i + 1 >= len(lines) or lines[i + 1] != "----":
            raise ValueError(f"line {i + 1}: command without ---- separator: {line}")
        i += 2
        expected = []
        while i < len(lines) and lines[i].strip():
            expected.append(lines[i])
            i += 1
        blocks.append(Block(header, command, expected))
        header = []
    if header and any(h.strip() for h in header):
        blocks.append(Block(header, "", []))
    return blocks


def render(blocks: Sequence[Block]) -> str:
    out: List[str] = []
    for block in blocks:
        out.extend(block.header)
        if block.command:
            out.append(block.command)
            out.append("----")
            out.extend(block.expected)
    text = "\n".join(out)
    return text.rstrip("\n") + "\n"


class App:
    """The state machine: the list of applied payloads (snapshot = them joined)."""

    def __init__(self, index: int = 0, items: Optional[List[str]] = None) -> None:
        self.index = index
        self.items = items or []

    def snapshot(self) -> bytes:
        return ("%d|" % self.index + ",".join(self.items)).encode()

    @staticmethod
    def restore(data: bytes, index: int) -> "App":
        if not data:
            return App(index)
        head, _unused, rest = data.decode().partition("|")
        return App(int(head), rest.split(",") if rest else [])


@dataclass
class TNode:
    node_id: int
    config: CoreConfig
    storage: MemoryStorage
    bootstrap: Optional[ConfState]
    raw: Optional[RawNode] = None
    app: App = field(default_factory=App)


class Cluster:
    def __init__(self) -> None:
        self.nodes: Dict[int, TNode] = {}
        self.queue: List[Message] = []
        self.groups: Optional[List[Set[int]]] = None
        self.out: List[str] = []

    # ---- helpers

    def _record(self, line: str) -> None:
        # self.out is replaced between commands, so the core's logger looks it up each time.
        self.out.append(line)

    def _start(self, tn: TNode) -> None:
        hs, snap, entries = tn.storage.load()
        tn.app = App.restore(snap.data, snap.index) if snap else App()
        tn.raw = RawNode(tn.config, random.Random(tn.node_id), hard_state=hs, snapshot=snap, entries=entries,
                         bootstrap=tn.bootstrap, logger=self._record)

    def _ids(self, args: Sequence[str]) -> List[int]:
        ids = [int(a) for a in args if a.isdigit()]
        return ids or sorted(self.nodes)

    def _node(self, node_id: int) -> RawNode:
        raw = self.nodes[node_id].raw
        if raw is None:
            raise ValueError(f"node {node_id} is down")
        return raw

    def _live(self, ids: Sequence[int]) -> List[TNode]:
        return [self.nodes[i] for i in ids if self.nodes[i].raw is not None]

    def connected(self, a: int, b: int) -> bool:
        return self.groups is None or any(a in g and b in g for g in self.groups)

    # ---- Ready handling, written once like the runtime loop: persist, send, apply, advance
    def process_ready(self, ids: Sequence[int]) -> bool:
        moved = False
        for tn in self._live(ids):
            raw = tn.raw
            assert raw is not None
            if not raw.has_ready():
                continue
            moved = True
            rd = raw.ready()
            tn.storage.save(rd.hard_state, rd.entries, rd.snapshot, rd.must_sync)
            lines = []
            if rd.hard_state is not None:
                hs = rd.hard_state
                lines.append(f"  persist hard term={hs.term} vote={hs.vote} commit={hs.commit}")
            if rd.snapshot is not None:
                lines.append(f"  persist {rd.snapshot.describe()}")
            if rd.entries:
                lines.append("  persist " + " ".join(e.describe() for e in rd.entries))
            if rd.apply_snapshot and rd.snapshot is not None:
                tn.app = App.restore(rd.snapshot.data, rd.snapshot.index)
            if rd.committed_entries:
                for entry in rd.committed_entries:
                    tn.app.index = entry.index
                    if entry.data and entry.type == 0:
                        tn.app.items.append(entry.data.decode())
                lines.append("  apply " + " ".join(e.describe() for e in rd.committed_entries))
            for msg in rd.messages:
                lines.append(f"  send {msg.describe()}")
            self.queue.extend(rd.messages)
            raw.advance(rd)
            if lines:
                self.out.append(f"> n{tn.node_id} ready")
                self.out.extend(lines)
        return moved

    def deliver(self, ids: Sequence[int], drop: bool = False) -> bool:
        targets = set(ids)
        todo = [m for m in self.queue if m.to in targets]
        self.queue = [m for m in self.queue if m.to not in targets]
        for msg in todo:
            tn = self.nodes.get(msg.to)
            if drop or tn is None or tn.raw is None or not self.connected(msg.frm, msg.to):
                self.out.append(f"  dropped {msg.describe()}")
                continue
            tn.raw.step(msg)
        return bool(todo)

    def stabilize(self, ids: Sequence[int]) -> None:
        for _unused in range(1000):
            moved = self.process_ready(ids)
            moved = self.deliver(ids) or moved
            if not moved:
                return
        raise RuntimeError("stabilize did not converge")

    # ---- commands
    def run(self, command: str) -> List[str]:
        self.out = []
        words = command.split()
        name, args = words[0], words[1:]
        kwargs = dict(a.split("=", 1) for a in args if "=" in a)
        positional = [a for a in args if "=" not in a]
        handler = getattr(self, "cmd_" + name.replace("-", "_"), None)
        if handler is None:
            raise ValueError(f"unknown command {name}")
        handler(positional, kwargs)
        return self.out or ["ok"]

    def cmd_add_nodes(self, pos: List[str], kw: Dict[str, str]) -> None:
        count = int(pos[0])
        bootstrap = None
        if "voters" in kw:
            bootstrap = ConfState(_id_set(kw.pop("voters")), _id_set(kw.pop("observers", "()")))
        options = {}
        for key, value in kw.items():
            field_name = _CONFIG_KEYS[key]
            options[field_name] = value == "true" if value in ("true", "false") else int(value)
        first = max(self.nodes, default=0) + 1
        for node_id in range(first, first + count):
            config = CoreConfig(node_id=node_id, **options)  # type: ignore[arg-type]
            tn = TNode(node_id, config, MemoryStorage(), bootstrap)
            self.nodes[node_id] = tn
            self._start(tn)
        self.process_ready(range(first, first + count))
        self.out = [self._status_line(i) for i in range(first, first + count)]

    def cmd_campaign(self, pos: List[str], kw: Dict[str, str]) -> None:
        self._node(int(pos[0])).campaign()

    def cmd_tick(self, pos: List[str], kw: Dict[str, str]) -> None:
        ids = sorted(self.nodes) if pos[0] == "all" else [int(p) for p in pos]
        for _unused in range(int(kw.get("n", "1"))):
            for tn in self._live(ids):
                tn.raw.tick()  # type: ignore[union-attr]
        self.process_ready(ids)

    def cmd_run(self, pos: List[str], kw: Dict[str, str]) -> None:
        """Tick every live node once and stabilize, n times; print only the event lines."""
        for _unused in range(int(kw.get("n", "1"))):
            for tn in self._live(sorted(self.nodes)):
                tn.raw.tick()  # type: ignore[union-attr]
            self.stabilize(sorted(self.nodes))
        self.out = [line for line in self.out if not line.startswith(("  ", "> n"))]

    def cmd_process_ready(self, pos: List[str], kw: Dict[str, str]) -> None:
        self.process_ready(self._ids(pos))

    def cmd_deliver(self, pos: List[str], kw: Dict[str, str]) -> None:
        self.deliver(self._ids(pos), drop=kw.get("drop") == "true")

    def cmd_stabilize(self, pos: List[str], kw: Dict[str, str]) -> None:
        self.stabilize(self._ids(pos))

    def cmd_partition(self, pos: List[str], kw: Dict[str, str]) -> None:
        groups = " ".join(pos).split("|")
        self.groups = [set(int(x) for x in g.split()) for g in groups]

    def cmd_heal(self, pos: List[str], kw: Dict[str, str]) -> None:
        self.groups = None

    def cmd_propose(self, pos: List[str], kw: Dict[str, str]) -> None:
        try:
            index = self._node(int(pos[0])).propose(pos[1].encode())
            self.out.append(f"proposed at index {index}")
        except ProposalDropped as exc:
            self.out.append(f"dropped: {exc}")

    def cmd_propose_conf_change(self, pos: List[str], kw: Dict[str, str]) -> None:
        kinds = {"add-voter": ConfChangeType.ADD_VOTER, "add-observer": ConfChangeType.ADD_OBSERVER,
                 "remove": ConfChangeType.REMOVE}
        try:
            index = self._node(int(pos[0])).propose_conf_change(ConfChange(kinds[pos[1]], int(pos[2])))
            self.out.append(f"proposed at index {index}")
        except ProposalDropped as exc:
            self.out.append(f"dropped: {exc}")

    def cmd_transfer_leader(self, pos: List[str], kw: Dict[str, str]) -> None:
        self._node(int(pos[0])).transfer_leader(int(kw["to"]))

    def cmd_compact(self, pos: List[str], kw: Dict[str, str]) -> None:
        tn = self.nodes[int(pos[0])]
        index = int(pos[1])
        if index != tn.app.index:
            raise ValueError(f"app of n{tn.node_id} is at {tn.app.index}, not {index}")
        snap = self._node(tn.node_id).compact(index, tn.app.snapshot())
        self.out.append(f"compacted: {snap.describe()}")

    def cmd_set_vote_context(self, pos: List[str], kw: Dict[str, str]) -> None:
        self._node(int(pos[0])).set_vote_context(int(pos[1]))

    def cmd_crash(self, pos: List[str], kw: Dict[str, str]) -> None:
        tn = self.nodes[int(pos[0])]
        tn.raw = None
        tn.storage.crash()
        self.queue = [m for m in self.queue if m.to != tn.node_id]

    def cmd_restart(self, pos: List[str], kw: Dict[str, str]) -> None:
        tn = self.nodes[int(pos[0])]
        self._start(tn)
        self.out.append(self._status_line(tn.node_id))

    def cmd_status(self, pos: List[str], kw: Dict[str, str]) -> None:
        self.out.extend(self._status_line(i) for i in self._ids(pos))

    def cmd_log(self, pos: List[str], kw: Dict[str, str]) -> None:
        log = self._node(int(pos[0])).raft.log
        self.out.append(f"{log.snapshot.describe()}")
        self.out.extend(e.describe() for e in log.entries)

    def _status_line(self, node_id: int) -> str:
        tn = self.nodes[node_id]
        if tn.raw is None:
            return f"n{node_id}: down"
        raft = tn.raw.raft
        return (f"n{node_id}: {raft.role.value} term={raft.term} vote={raft.vote} lead={raft.lead} "
                f"last={raft.log.last_term()}/{raft.log.last_index()} commit={raft.log.committed} "
                f"applied={tn.app.index} {raft.conf.describe()}"
                + (f" app=[{','.join(tn.app.items)}]" if tn.app.items else ""))


def _id_set(text: str) -> frozenset:
    return frozenset(int(x) for x in re.findall(r"\d+", text))


def run_file(path: str) -> Tuple[str, str]:
    """(actual rendering, original text) of one transcript file."""
    with open(path) as f:
        original = f.read()
    blocks = parse(original)
    cluster = Cluster()
    for block in blocks:
        if block.command:
            block.expected = cluster.run(block.command)
    return render(blocks), original
