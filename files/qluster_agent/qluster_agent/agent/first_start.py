"""Whether a node without consensus state starts a new cluster, waits, or joins one (pure).

Seed 000 §7.3: a brand-new cluster starts on the one node without the add_node marker; every
other node carries the marker and waits for that node, once leader, to add it. A node that lost
its consensus state (its data-dir deleted) while its cluster still runs must not start a second
cluster, so before it bootstraps it listens to the others for a discovery window: any node heard
that is not a newcomer means a cluster may exist, and it waits to be added instead.

A newcomer (Beacon.newcomer) is a node without consensus state that waits to be added: the
add_node marker on an empty data directory, or an observer. It is no sign of a cluster, so it
does not stop a bootstrap: the initial leader and the joiners may start at the same moment.

The window ends early only on complete evidence. With a unicast peer list (udp.peers) the list
is every node there is to hear; once each listed peer has been heard and each is a newcomer, no
cluster can exist among them (only a listed peer with state could lead one), and listening the
rest of the window would only delay the same answer. With multicast nobody knows how many nodes
there are, so the whole window is waited.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from .beacon import Beacon

Address = tuple[str, int]


class Verdict(enum.Enum):
    WAIT = "wait"  # keep listening
    BOOTSTRAP = "bootstrap"  # start a new cluster with this node as its only voter
    JOIN = "join"  # a cluster may exist: wait to be added to it


@dataclass(frozen=True)
class Heard:
    """A node heard during the window: where its datagrams come from and what its last hello
    said (the encoded Beacon)."""

    address: Address
    info: bytes

    @property
    def announced(self) -> bool:
        """False for the empty hello a transport may send before its node set its beacon: the
        next one, moments later, tells who it is. Until then it counts as not heard."""
        return bool(self.info)

    @property
    def newcomer(self) -> bool:
        """Whether it says it is a newcomer; anything unreadable counts as a possible member."""
        beacon = Beacon.decode(self.info)
        return beacon is not None and beacon.newcomer


@dataclass(frozen=True)
class FirstStart:
    verdict: Verdict
    reason: str


def first_start(heard: Mapping[int, Heard], listed: frozenset[Address] | None,
                waited: float, window: float) -> FirstStart:
    """What a node without consensus state and without the marker does now.

    heard: the other nodes heard so far (never this node); listed: the unicast peer list
    without this node's own entry, None in multicast mode; waited: seconds since it started
    listening; window: the discovery window in seconds.
    """
    heard = {node_id: h for node_id, h in heard.items() if h.announced}
    members = sorted(node_id for node_id, h in heard.items() if not h.newcomer)
    if members:
        return FirstStart(Verdict.JOIN, f"nodes {members}, which may belong to an existing cluster, were heard")
    if listed is not None and not listed - {h.address for h in heard.values()}:
        return FirstStart(Verdict.BOOTSTRAP, f"every other peer of udp.peers ({len(listed)}) is a newcomer "
                          "waiting to be added")
    if waited >= window:
        others = f"only newcomers ({len(heard)}) heard" if heard else "no other node heard"
        return FirstStart(Verdict.BOOTSTRAP, f"{others} for {window:.1f} s")
    return FirstStart(Verdict.WAIT, "listening for members of an existing cluster")


__all__ = ["FirstStart", "Heard", "Verdict", "first_start"]
