"""A node's first start: whether it bootstraps a new cluster, and whether it is still a newcomer.

`first_start()` (agent/first_start.py) gives the verdict for what has been heard so far; this
file listens until there is one (Discovery), and says what the node announces about itself while
it has no consensus state (Beacon.newcomer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..config.model import AgentConfig, MemberRole
from ..ha.marker import AddNodeMarker
from ..pg.status import DataDirState
from ..raft.runtime import RuntimeStatus
from ..raft.types import ConfState
from ..storage.disk import DiskStorage
from ..transport.discovery import PeerInfo
from .first_start import Address, Heard, Verdict, first_start

log = logging.getLogger("qluster")

# How often a node in its discovery window looks at the peers heard so far: the transport's
# receiving thread fills the peer table meanwhile, and a unicast list heard in full ends the
# window at once, so the initial leader is elected within a poll of the last joiner's hello.
DISCOVERY_POLL = 0.02


def consensus_state_on_disk(data_dir: str) -> bool:
    """Whether this node has taken part in a cluster: a term, a snapshot or log entries saved."""
    storage = DiskStorage(data_dir)
    try:
        hard_state, snapshot, entries = storage.load()
    finally:
        storage.close()
    return bool(hard_state.term or snapshot is not None or entries)


def listed_peers(config: AgentConfig) -> frozenset[Address] | None:
    """The unicast peer list without this node's own entry (as the transport sends to it);
    None in multicast mode."""
    peers = config.udp.peers
    if not peers:
        return None
    own = (config.ip, config.udp.socket.group.port)
    return frozenset(peer.as_tuple() for peer in peers if peer.as_tuple() != own)


def heard_of(peers: Mapping[int, PeerInfo], my_id: int) -> dict[int, Heard]:
    return {node_id: Heard(peer.address, peer.info) for node_id, peer in peers.items() if node_id != my_id}


@dataclass(frozen=True)
class Discovery:
    """Listens through the discovery window of a first start (seed 000 §7.3) until first_start()
    has a verdict; `clock` and `sleep` are the only time it knows."""

    my_id: int
    cluster_id: str
    observer: bool
    marker: AddNodeMarker
    listed: frozenset[Address] | None
    window: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def of(cls, config: AgentConfig, marker: AddNodeMarker) -> "Discovery":
        # Two hellos of every peer at least, and a second for a peer list of slow starters.
        window = max(2 * config.hello_retry_interval, 1.0)
        return cls(config.node_id, config.cluster_id, config.role is MemberRole.OBSERVER, marker,
                   listed_peers(config), window)

    def bootstrap_conf(self, had_state: bool, heard: Callable[[], Mapping[int, Heard]]) -> ConfState | None:
        """A brand-new cluster starts on the one node without the add_node marker.

        Only when this node has no consensus state, is a voter, carries no marker, and hears
        no node of its cluster but newcomers within the discovery window (the window ends early
        once every peer of a unicast list is a heard newcomer); an existing cluster takes a new
        node in through its leader instead. None: wait to be added.
        """
        if had_state:
            return None
        if self.observer:
            log.info("I am node %d, an observer; waiting for the cluster's leader to add me", self.my_id)
            return None
        if self.marker.exists():
            log.info("I am node %d with the add_node marker %s; waiting for the leader to add me",
                     self.my_id, self.marker.path)
            return None
        started = self.clock()
        while True:
            found = first_start(heard(), self.listed, self.clock() - started, self.window)
            if found.verdict is Verdict.JOIN:
                log.info("I am node %d of cluster %s without consensus state, but %s; not bootstrapping, "
                         "waiting to be added", self.my_id, self.cluster_id, found.reason)
                return None
            if found.verdict is Verdict.BOOTSTRAP:
                log.info("I am node %d: no consensus state, no add_node marker, %s; bootstrapping a new "
                         "cluster after %.2f s", self.my_id, found.reason, self.clock() - started)
                return ConfState(frozenset({self.my_id}))
            self.sleep(DISCOVERY_POLL)


def holds_consensus_state(status: RuntimeStatus | None, had_state: bool) -> bool:
    """Before the runtime runs, what was on disk at start; after, whatever the runtime knows."""
    if status is None:
        return had_state
    return bool(status.term or status.commit or status.voters or status.observers)


def is_newcomer(has_state: bool, observer: bool, marker: AddNodeMarker | None,
                datadir: Callable[[], DataDirState]) -> bool:
    """Beacon.newcomer: no consensus state, and waiting to be added with nothing of its own (an
    observer, or the add_node marker on an empty data directory). `marker` is None without a
    database; `datadir` is read last, only when the rest holds."""
    if has_state:
        return False
    if observer:
        return True
    if marker is None or not marker.exists():
        return False
    return datadir() is DataDirState.EMPTY
