"""A cluster of consensus-only node processes (tests/consensus_net/node.py), one per
network namespace of a NetLab, talking over real multicast on 239.0.0.1:9999.

Shared by the tests in this directory and by bench/consensus_*.py. Everything is observed
through the nodes' status files; waiting is always polling with a deadline.

    with NetLab() as lab, ConsensusCluster(lab, workdir, size=3) as cluster:
        leader, term = cluster.wait_agreed()
        cluster.kill(leader)
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from tests.netns import Host, NetLab

SECRET = "consensus lab secret"
CLUSTER_ID = "qluster-lab"
GROUP = ("239.0.0.1", 9999)
POLL = 0.01
T = TypeVar("T")


class ConsensusCluster:
    """Node ids 1..size on lab hosts n1..n<size>; close() (or leaving the with block) kills
    every node process still running."""

    def __init__(self, lab: NetLab, workdir: Path, size: int, *, status_interval: float = 0.25) -> None:
        self.lab = lab
        self.workdir = Path(workdir)
        self.status_interval = status_interval
        self.hosts: dict[int, Host] = dict(zip(range(1, size + 1), lab.add_hosts(*(f"n{i}" for i in range(1, size + 1)))))
        self.processes: dict[int, subprocess.Popen] = {}

    # ---- processes -------------------------------------------------------------------------

    def start(self, node_id: int) -> None:
        """Start (or restart, keeping its data directory) one node."""
        if self.is_running(node_id):
            raise RuntimeError(f"node {node_id} is already running")
        host = self.hosts[node_id]
        self.status_path(node_id).unlink(missing_ok=True)  # never read a dead process's status
        argv = [sys.executable, "-m", "tests.consensus_net.node", "--id", str(node_id),
                "--voters", ",".join(str(i) for i in self.hosts), "--ip", host.ip, "--interface", host.interface,
                "--data-dir", str(self.workdir / f"n{node_id}.data"), "--secret", SECRET,
                "--cluster-id", CLUSTER_ID, "--group", f"{GROUP[0]}:{GROUP[1]}",
                "--status-file", str(self.status_path(node_id)), "--status-interval", str(self.status_interval)]
        with open(self.workdir / f"n{node_id}.log", "ab") as log:
            # `ip netns exec` execs python in place, so the pid is the node's own: SIGKILL hits it.
            self.processes[node_id] = self.lab.popen(host, argv, stdout=log, stderr=subprocess.STDOUT,
                                                     cwd=str(Path(__file__).resolve().parents[2]))

    def start_all(self) -> None:
        for node_id in self.hosts:
            self.start(node_id)

    def kill(self, node_id: int) -> float:
        """SIGKILL the node (a crash); returns time.monotonic() just before the signal."""
        process = self.processes.pop(node_id)
        killed_at = time.monotonic()
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        return killed_at

    def is_running(self, node_id: int) -> bool:
        process = self.processes.get(node_id)
        return process is not None and process.poll() is None

    def running(self) -> list[int]:
        return [node_id for node_id in self.hosts if self.is_running(node_id)]

    def pid(self, node_id: int) -> int:
        return self.processes[node_id].pid

    def close(self) -> None:
        for node_id in list(self.processes):
            process = self.processes.pop(node_id)
            if process.poll() is None:
                process.kill()
            process.wait(10)

    def __enter__(self) -> "ConsensusCluster":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- observing -------------------------------------------------------------------------

    def status_path(self, node_id: int) -> Path:
        return self.workdir / f"n{node_id}.status.json"

    def status(self, node_id: int) -> dict[str, Any] | None:
        """The node's latest status, or None when it is not running or has not written one."""
        if not self.is_running(node_id):
            return None
        try:
            document = json.loads(self.status_path(node_id).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return document if document.get("pid") == self.pid(node_id) else None

    def statuses(self, nodes: Iterable[int] | None = None) -> dict[int, dict[str, Any] | None]:
        return {node_id: self.status(node_id) for node_id in (self.running() if nodes is None else nodes)}

    def agreed(self, nodes: Iterable[int] | None = None) -> tuple[int, int] | None:
        """(leader, term) when every given node (default: every running one) names the same leader
        in the same term, and that leader is among them and says it leads; else None."""
        statuses = self.statuses(nodes)
        if not statuses or any(status is None for status in statuses.values()):
            return None
        views = {(status["leader"], status["term"]) for status in statuses.values()}
        if len(views) != 1:
            return None
        leader, term = views.pop()
        if leader not in statuses or statuses[leader]["role"] != "leader":
            return None
        return leader, term

    def wait_agreed(self, nodes: Iterable[int] | None = None, timeout: float = 15.0,
                    unless: Callable[[tuple[int, int]], bool] | None = None) -> tuple[int, int]:
        """Wait until the nodes agree on a leader; ``unless(view)`` rejects a view (e.g. the old leader)."""
        chosen = list(self.running() if nodes is None else nodes)

        def check() -> tuple[int, int] | None:
            view = self.agreed(chosen)
            return None if view is None or (unless is not None and unless(view)) else view

        return self.wait_for(check, timeout, f"nodes {chosen} to agree on a leader")

    def wait_for(self, condition: Callable[[], T], timeout: float, what: str) -> T:
        """Poll ``condition`` until it returns something truthy; fail with every node's status
        and log tail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self.describe()}")
            time.sleep(POLL)

    def describe(self) -> str:
        """Every node's status and the end of its log, for a failure message."""
        lines = []
        for node_id in self.hosts:
            status = self.status(node_id)
            brief = {key: status[key] for key in ("role", "leader", "term", "became", "peers")} if status else None
            lines.append(f"node {node_id} running={self.is_running(node_id)} status={brief}")
            log = self.workdir / f"n{node_id}.log"
            if log.exists():
                tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-8:]
                lines.extend(f"    {line}" for line in tail)
        return "\n".join(lines)
