"""Value types of the QRaft core: log entries, membership, persistent state and messages.

Everything here is an immutable value so it can be logged, compared in tests and handed
across threads without copying.  Node ids are positive ints; 0 means "nobody".
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import FrozenSet, Optional, Tuple

NONE = 0  # "no node": no vote cast, no known leader


class EntryType(enum.IntEnum):
    NORMAL = 0  # opaque bytes for the layer above (cluster state)
    CONF_CHANGE = 1  # data is an encoded ConfChange; the core applies it when committed


@dataclass(frozen=True)
class Entry:
    term: int
    index: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""

    def describe(self) -> str:
        if self.type == EntryType.CONF_CHANGE:
            return f"{self.term}/{self.index} {ConfChange.decode(self.data).describe()}"
        if not self.data:
            return f"{self.term}/{self.index} EntryNormal"
        return f"{self.term}/{self.index} {self.data.decode('utf-8', 'backslashreplace')}"


class ConfChangeType(enum.IntEnum):
    ADD_VOTER = 0
    ADD_OBSERVER = 1  # non-voting learner: replicates the log, never votes or leads
    REMOVE = 2


_CONF_CHANGE = struct.Struct(">BQ")


@dataclass(frozen=True)
class ConfChange:
    type: ConfChangeType
    node_id: int

    def encode(self) -> bytes:
        return _CONF_CHANGE.pack(int(self.type), self.node_id)

    @staticmethod
    def decode(data: bytes) -> "ConfChange":
        kind, node_id = _CONF_CHANGE.unpack(data)  # struct.error/ValueError on garbage
        return ConfChange(ConfChangeType(kind), node_id)

    def describe(self) -> str:
        verb = {ConfChangeType.ADD_VOTER: "add-voter", ConfChangeType.ADD_OBSERVER: "add-observer",
                ConfChangeType.REMOVE: "remove"}[self.type]
        return f"{verb} {self.node_id}"


@dataclass(frozen=True)
class ConfState:
    """Cluster membership: voters elect and commit, observers only follow the log."""

    voters: FrozenSet[int] = frozenset()
    observers: FrozenSet[int] = frozenset()

    @property
    def members(self) -> FrozenSet[int]:
        return self.voters | self.observers

    def describe(self) -> str:
        voters = ",".join(str(n) for n in sorted(self.voters))
        observers = ",".join(str(n) for n in sorted(self.observers))
        return f"voters=({voters})" + (f" observers=({observers})" if observers else "")


@dataclass(frozen=True)
class Snapshot:
    """State of the layer above as of `index` (inclusive), plus the membership at that index."""

    index: int
    term: int
    conf: ConfState
    data: bytes = b""

    def describe(self) -> str:
        return f"snapshot index={self.index} term={self.term} {self.conf.describe()}"


@dataclass(frozen=True)
class HardState:
    """What must be on disk before any message that depends on it leaves (Raft thesis §3.8)."""

    term: int = 0
    vote: int = NONE
    commit: int = 0


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True)
class SoftState:
    """Volatile state the layer above watches: who leads and what this node is."""

    leader: int = NONE
    role: Role = Role.FOLLOWER


@dataclass(frozen=True)
class NodeStatus:
    """RawNode.status(): what a runtime reports of its node (etcd's raft.Status, without the
    leader's progress): who leads, this node's role and term, the commit index, the membership."""

    leader: int
    role: Role
    term: int
    commit: int
    conf: ConfState


class MessageType(enum.IntEnum):
    # local only: produced by tick() / API calls, never encoded
    HUP = 0  # start an election (pre-vote first)
    BEAT = 1  # leader: send heartbeats
    PROPOSE = 2
    TRANSFER_LEADER = 3
    # on the wire
    APP = 10
    APP_RESP = 11
    HEARTBEAT = 12
    HEARTBEAT_RESP = 13
    PRE_VOTE = 14
    PRE_VOTE_RESP = 15
    VOTE = 16
    VOTE_RESP = 17
    SNAP = 18
    TIMEOUT_NOW = 19


LOCAL_TYPES = frozenset({MessageType.HUP, MessageType.BEAT, MessageType.PROPOSE, MessageType.TRANSFER_LEADER})

_NAMES = {
    MessageType.HUP: "Hup", MessageType.BEAT: "Beat", MessageType.PROPOSE: "Propose",
    MessageType.TRANSFER_LEADER: "TransferLeader", MessageType.APP: "App",
    MessageType.APP_RESP: "AppResp", MessageType.HEARTBEAT: "Heartbeat",
    MessageType.HEARTBEAT_RESP: "HeartbeatResp", MessageType.PRE_VOTE: "PreVote",
    MessageType.PRE_VOTE_RESP: "PreVoteResp", MessageType.VOTE: "Vote",
    MessageType.VOTE_RESP: "VoteResp", MessageType.SNAP: "Snap", MessageType.TIMEOUT_NOW: "TimeoutNow",
}


@dataclass(frozen=True)
class Message:
    """One one-way message.  A response is just another message: this suits UDP datagrams.

    Field use by type (unused fields stay 0/empty):
      App:        index/log_term = entry preceding `entries`, commit
      AppResp:    index = last index now matching (accept) or the rejected index (reject),
                  reject_hint/log_term = where the follower suggests probing next
      Heartbeat:  commit;  PreVote/Vote: index/log_term = candidate's last entry,
                  context = candidate's WAL position (vote veto hook), force = leadership transfer
      Snap:       snapshot
    """

    type: MessageType
    frm: int
    to: int
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: Tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    context: int = 0
    force: bool = False
    snapshot: Optional[Snapshot] = field(default=None)

    def describe(self) -> str:
        head = f"{self.frm}->{self.to} {_NAMES[self.type]} term={self.term}"
        t = self.type
        if t == MessageType.APP:
            ents = " ".join(e.describe() for e in self.entries)
            return f"{head} index={self.index} log_term={self.log_term} commit={self.commit}" + (
                f" entries=[{ents}]" if self.entries else "")
        if t == MessageType.APP_RESP:
            if self.reject:
                return f"{head} reject index={self.index} hint={self.reject_hint} hint_term={self.log_term}"
            return f"{head} index={self.index}"
        if t == MessageType.HEARTBEAT:
            return f"{head} commit={self.commit}"
        if t in (MessageType.PRE_VOTE, MessageType.VOTE):
            return (f"{head} last={self.log_term}/{self.index} wal={self.context}"
                    + (" force" if self.force else ""))
        if t in (MessageType.PRE_VOTE_RESP, MessageType.VOTE_RESP):
            return f"{head} {'reject' if self.reject else 'grant'}"
        if t == MessageType.SNAP and self.snapshot is not None:
            return f"{head} {self.snapshot.describe()}"
        if t == MessageType.PROPOSE:
            return f"{head} entries=[{' '.join(e.describe() for e in self.entries)}]"
        return head
