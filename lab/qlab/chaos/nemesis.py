"""The nemesis: a seeded schedule of faults, applied to the lab one at a time, each healed again.

The schedule is a pure function of (seed, count): the same seed gives the same kinds, holds and
gaps, so a failing run can be replayed. The first events cover every kind once (in a seeded
order); the rest are drawn at random. Which node is the leader is only known when the event runs.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import asdict, dataclass

from ..faults import Host, wait_until
from ..podman import LabError, podman
from .cluster import Cluster, available

KINDS = (
    "kill-leader",          # podman kill of the leader's host (power cut), then start it
    "pause-leader",         # freeze the leader's host, then thaw it
    "partition-leader",     # the leader's packets vanish silently, then the link is back
    "partition-follower",   # the same for one follower
    "restart-all",          # every database host killed at once, then all started
    "wipe-leader-pgdata",   # seed 003: the leader's data directory emptied under the running server
    "archive-unwritable",   # the WAL archive directory made unwritable for a while
)
DATA_DIR = "/qhb/data"          # qhb_node_data_dir
ARCHIVE_DIR = "/qhb-backup"     # the export on the NFS host; the database hosts see it at the WAL path
RECOVERY_TIMEOUT_S = 120


@dataclass(frozen=True)
class Event:
    index: int
    kind: str
    hold_s: float       # how long the fault stays before it is healed
    gap_s: float        # quiet time after the cluster is available again
    pick: float         # draws which follower, for the kinds that need one


def schedule(seed: int, count: int, hold: tuple[float, float] = (3.0, 10.0),
             gap: tuple[float, float] = (1.0, 4.0)) -> list[Event]:
    if count < 1:
        raise ValueError(f"the number of events must be at least 1, not {count}")
    rng = random.Random(seed)
    kinds = list(KINDS)
    rng.shuffle(kinds)
    while len(kinds) < count:
        kinds.append(rng.choice(KINDS))
    return [Event(i, kind, round(rng.uniform(*hold), 2), round(rng.uniform(*gap), 2), rng.random())
            for i, kind in enumerate(kinds[:count])]


class Nemesis:
    def __init__(self, cluster: Cluster, log=print) -> None:
        self.cluster = cluster
        self.log = log
        self.records: list[dict] = []
        self._archive_mode: str | None = None
        self._lock = threading.Lock()

    # --- the schedule ------------------------------------------------------------------------
    def run(self, events: list[Event], stop: threading.Event | None = None) -> list[dict]:
        for event in events:
            if stop is not None and stop.is_set():
                break
            self.records.append(self.apply(event))
        return self.records

    def apply(self, event: Event) -> dict:
        record = {**asdict(event), "target": None, "note": ""}
        try:
            wait_until(lambda: available(self.cluster.freshest_map()), RECOVERY_TIMEOUT_S, 1.0,
                       "an available cluster before the fault")
        except TimeoutError:
            record["note"] = "cluster not available before the fault; applied anyway. "
        leader = self.cluster.leader()
        followers = [h.hostname for h in self.cluster.nodes if h.hostname != leader]
        target = leader if "leader" in event.kind else None
        if event.kind == "partition-follower":
            target = followers[int(event.pick * len(followers))]
        if target is None and event.kind not in ("restart-all", "archive-unwritable"):
            record["note"] += "no leader known: skipped"
            self.log(f"event {event.index}: {event.kind}: no leader known, skipped")
            return record
        record["target"] = target
        record["start"] = time.time()
        record["load_1m"] = round(os.getloadavg()[0], 2)
        self.log(f"event {event.index}: {event.kind}{' ' + target if target else ''}, hold {event.hold_s:.1f} s")
        try:
            self._inject(event.kind, target)
            time.sleep(event.hold_s)  # the fault's duration is the point here, not a synchronisation
        except LabError as exc:  # e.g. runc refusing to freeze a busy host: say so, go on
            record["note"] += f"fault not applied: {exc}. "
            self.log(f"event {event.index}: the fault could not be applied: {exc}")
        finally:
            self._heal(event.kind, target)
        record["healed"] = time.time()
        try:
            wait_until(lambda: available(self.cluster.freshest_map()), RECOVERY_TIMEOUT_S, 0.5, "an available cluster")
            record["available_after_s"] = round(time.time() - record["start"], 2)
        except TimeoutError:
            record["note"] += f"not available within {RECOVERY_TIMEOUT_S} s of the heal"
            record["available_after_s"] = None
        self.log(f"event {event.index}: healed; available again {record['available_after_s']} s after the fault")
        time.sleep(event.gap_s)
        return record

    def _inject(self, kind: str, target: str | None) -> None:
        hosts = self.cluster.hosts
        if kind == "kill-leader":
            hosts[target].kill()
        elif kind == "pause-leader":
            self._pause(hosts[target])
        elif kind in ("partition-leader", "partition-follower"):
            hosts[target].partition()
        elif kind == "restart-all":
            threads = [threading.Thread(target=node.kill) for node in self.cluster.nodes]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        elif kind == "wipe-leader-pgdata":
            hosts[target].sh(f"find {DATA_DIR} -mindepth 1 -delete || true", timeout=60)
        elif kind == "archive-unwritable":
            pooler = self.cluster.pooler
            with self._lock:
                self._archive_mode = pooler.exec("stat", "-c", "%a", ARCHIVE_DIR).stdout.strip()
            pooler.exec("chmod", "000", ARCHIVE_DIR)
        else:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")

    def _pause(self, host: Host, attempts: int = 3) -> None:
        """runc refuses to freeze a busy host now and then (the freezer times out and thaws it
        again): try again a couple of times before the fault counts as not applied."""
        for attempt in range(1, attempts + 1):
            try:
                host.pause()
                return
            except LabError:
                if host.is_paused():
                    return
                if attempt == attempts:
                    raise
                self.log(f"runc refused to freeze {host.hostname} (attempt {attempt} of {attempts}); again")
                time.sleep(0.5)

    def _heal(self, kind: str, target: str | None) -> None:
        hosts = self.cluster.hosts
        # Each heal looks first: a fault that was not applied has nothing to undo.
        if kind == "kill-leader":
            if not hosts[target].is_running():
                self._start(hosts[target])
        elif kind == "pause-leader":
            if hosts[target].is_paused():
                hosts[target].resume()
        elif kind in ("partition-leader", "partition-follower"):
            if hosts[target].is_partitioned():
                hosts[target].heal()
        elif kind == "restart-all":
            for node in self.cluster.nodes:  # one after the other: each gets its own address back
                if not node.is_running():
                    self._start(node)
        elif kind == "archive-unwritable":
            self._restore_archive()

    def _start(self, host: Host) -> None:
        """Start a killed host with the address it had. Podman hands a restarted container the
        next free address of the network unless it has a static one, and the cluster knows its
        members by address: the first time that happens the address is pinned (static) for good."""
        host.start()
        expected = self.cluster.addresses[host.hostname]
        got = host.address
        if got != expected:
            podman("network", "disconnect", "-f", self.cluster.lab.network, host.container)
            podman("network", "connect", "--ip", expected, self.cluster.lab.network, host.container)
            self.log(f"{host.hostname} came back as {got}; its address {expected} is pinned again")

    def _restore_archive(self) -> None:
        with self._lock:
            mode, self._archive_mode = self._archive_mode, None
        if mode:
            self.cluster.pooler.exec("chmod", mode, ARCHIVE_DIR)

    def heal_all(self) -> list[str]:
        """Every host running, thawed and connected, the archive writable: whatever was left."""
        done = []
        for host in self.cluster.hosts.values():
            if host.is_paused():
                host.resume()
                done.append(f"resumed {host.hostname}")
            if not host.is_running():
                self._start(host)
                done.append(f"started {host.hostname}")
            elif host.is_partitioned():
                host.heal()
                done.append(f"healed {host.hostname}")
        if self._archive_mode:
            self._restore_archive()
            done.append("archive writable again")
        return done
