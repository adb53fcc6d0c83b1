"""Split-brain probes: each database node is written to continuously on its own database.

The probe runs inside the node (the `probe` program of inhost.py, as the OS user qhb over the
local socket), so a node that is cut off from the network is still probed: a partitioned old
leader that kept accepting writes would show. A probe counts only when its INSERT was
acknowledged within one second (its window [t0, t1] is then short); a database that is a
replica refuses it, and a primary without its synchronous standby never acknowledges it. Two
nodes with overlapping acknowledged windows accepted writes at the same time: a split brain.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from .cluster import Cluster
from .remote import Remote

LOCAL_DSN = "host=/var/run/postgresql port=5432 dbname=postgres user=qhb connect_timeout=2 application_name=chaos-probe"
# The probe program gives its INSERT one second (inhost.probe). A window longer than that plus a
# margin means the prober itself was stopped mid-write (its host paused: the timer that enforces
# the deadline was frozen too), so the moment the write took effect is anywhere in a long window
# that says nothing about overlap: such probes are set aside and counted, not judged.
PROBE_DEADLINE_S = 1.0
TIMELY_MARGIN_S = 0.5


@dataclass(frozen=True)
class Window:
    node: str
    start: float
    end: float


@dataclass(frozen=True)
class Overlap:
    first: Window
    second: Window

    @property
    def seconds(self) -> float:
        return min(self.first.end, self.second.end) - max(self.first.start, self.second.start)

    def as_dict(self) -> dict:
        return {"nodes": [self.first.node, self.second.node], "from": max(self.first.start, self.second.start),
                "to": min(self.first.end, self.second.end), "seconds": self.seconds,
                "windows": [[w.node, w.start, w.end] for w in (self.first, self.second)]}


def timely(windows: list[Window]) -> tuple[list[Window], list[Window]]:
    """The windows that fit the probe's deadline, and the late ones (their moment is unknown)."""
    limit = PROBE_DEADLINE_S + TIMELY_MARGIN_S
    kept = [w for w in windows if w.end - w.start <= limit]
    late = [w for w in windows if w.end - w.start > limit]
    return kept, late


def overlaps(windows: list[Window]) -> list[Overlap]:
    """Every pair of windows of two different nodes that share a moment (touching ends do not)."""
    found: list[Overlap] = []
    active: list[Window] = []
    for window in sorted(windows, key=lambda w: (w.start, w.end)):
        active = [w for w in active if w.end > window.start]
        found.extend(Overlap(w, window) for w in active if w.node != window.node)
        active.append(window)
    return found


def leadership(windows: list[Window]) -> list[dict]:
    """Runs of consecutive acknowledged probes on one node: who accepted writes, from when to when."""
    runs: list[dict] = []
    for window in sorted(windows, key=lambda w: w.start):
        if runs and runs[-1]["node"] == window.node:
            runs[-1]["to"] = window.end
            runs[-1]["probes"] += 1
        else:
            runs.append({"node": window.node, "from": window.start, "to": window.end, "probes": 1})
    return runs


class Probes:
    def __init__(self, cluster: Cluster, log_dir: Path) -> None:
        self._lock = threading.Lock()
        self.windows: list[Window] = []
        self.remotes = [Remote(node, ["probe", node.hostname, LOCAL_DSN], self._add,
                               log_dir / f"probe-{node.hostname}.log", user="qhb")
                        for node in cluster.nodes]

    def _add(self, record: dict) -> None:
        with self._lock:
            self.windows.append(Window(record["n"], record["t0"], record["t1"]))

    def snapshot(self) -> list[Window]:
        with self._lock:
            return list(self.windows)

    def start(self) -> "Probes":
        for remote in self.remotes:
            remote.start()
        return self

    def stop(self) -> None:
        for remote in self.remotes:
            remote.stop()
