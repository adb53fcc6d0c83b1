"""playbooks/update.yml (issue 20 item 2): a rolling minor update of the database packages and of
the agent under writes.

The "new release" is made here: the PostgreSQL packages are reinstalled (the playbook's
`qluster_update_reinstall`, apt-get install --reinstall, which restarts every node as a real
package change would), and the agent comes from a copy of the collection whose agent says another
version (`__version__` of files/qluster_agent/qluster_agent/__init__.py, which /metrics publishes
as qluster_build_info{version=...}). Writers (the chaos test's, through the pooler and directly)
run all along:

1. `--check` prints the plan and changes nothing (same leader, term and agent version);
2. the update: every node (the pooler's observer too) then runs the new agent, every database
   was restarted during the run, the leader moved at most once (one switchover: one term more),
   every node streams or leads at the end, and no acknowledged write is lost;
3. the checkout's own collection is put back by the same playbook (the lab stays as the other
   tests expect it), and every node runs the original agent again;
4. a run with nothing to update restarts no database and leaves the leader where it is.
About 12 minutes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from qlab import deploy
from qlab.agent_api import url_and_context
from qlab.chaos.checker import assert_no_write_lost
from qlab.chaos.clients import Clients
from qlab.chaos.cluster import Cluster, converged, leader_name
from qlab.chaos.run import prepare
from qlab.faults import Host, keep_if, wait_until
from qlab.topology import NFS_HOST, REPO

INIT = Path("files/qluster_agent/qluster_agent/__init__.py")
VERSION = re.compile(r'^__version__ = "([^"]+)"$', re.M)
# The collection's own files; the rest of the checkout (its venv, the lab's state, tests) stays out.
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", ".ansible", ".pytest_cache", "__pycache__", "*.egg-info",
                                    "build", "bench", "lab", "tests", "molecule", "docs")


def collection_copy(root: Path, version: str) -> Path:
    """The checkout's collection under root/ansible_collections/qhb/qluster, its agent saying
    `version`; returns root (a collections path)."""
    target = root / "ansible_collections" / "qhb" / "qluster"
    shutil.copytree(REPO, target, ignore=NOT_COPIED)
    init = target / INIT
    init.write_text(VERSION.sub(f'__version__ = "{version}"', init.read_text()))
    return root


def run_update(lab, collections: Path | None, *args: str) -> str:
    """ansible-playbook update.yml from the checkout, or from the collection copy under
    `collections` (first on the collections path); its output."""
    env = deploy.ansible_env()
    playbook = REPO / "playbooks" / "update.yml"
    if collections is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
        playbook = collections / "ansible_collections" / "qhb" / "qluster" / "playbooks" / "update.yml"
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory_path), str(playbook), *args]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, check=False, capture_output=True, text=True)
    print(f"update.yml {' '.join(args)}: exit {proc.returncode} in {time.monotonic() - started:.0f} s")
    if proc.returncode != 0:
        pytest.fail(f"update.yml {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout


def agent_version(address: str) -> str | None:
    """The version the agent's /metrics gives in qluster_build_info, None when it does not answer."""
    url, context = url_and_context(address, "/metrics")
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    found = re.search(r'^qluster_build_info\{[^}]*\bversion="([^"]+)"', text, re.M)
    return found.group(1) if found else None


def postmaster_started(host: Host) -> float:
    """When the node's database server started (epoch seconds; the hosts share this machine's clock)."""
    out = host.exec("runuser", "-u", "qhb", "--", "psql", "-h", "/var/run/postgresql", "-d", "postgres", "-AtXc",
                    "SELECT extract(epoch FROM pg_postmaster_start_time())").stdout
    return float(out.strip())


class LeaderWatch:
    """The leaders the agents name, polled every second; consecutive repeats and silences dropped."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> "LeaderWatch":
        self._thread.start()
        return self

    def stop(self) -> list[str]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        return self.seen

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            name = self.cluster.leader()
            if name is not None and (not self.seen or self.seen[-1] != name):
                self.seen.append(name)


def converged_map(cluster: Cluster, what: str) -> dict:
    return wait_until(lambda: keep_if(cluster.freshest_map(), converged), 300, 2, what)


def versions(cluster: Cluster) -> dict[str, str | None]:
    """Every database node's and the pooler's agent version."""
    return {name: agent_version(cluster.addresses[name]) for name in (*cluster.lab.db_hostnames, NFS_HOST)}


def versions_once_all(cluster: Cluster, wanted: str, timeout: float = 60) -> dict[str, str | None]:
    """The versions, as soon as every agent gives `wanted` (an agent may be answering again only
    now), or as they are after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        seen = versions(cluster)
        if set(seen.values()) == {wanted} or time.monotonic() >= deadline:
            return seen
        time.sleep(2)


def test_rolling_update_under_writes_loses_nothing_and_leaves_every_node_on_the_new_agent(deployed_test_lab, tmp_path):
    lab = deployed_test_lab
    cluster = Cluster.of(lab)
    before = converged_map(cluster, "a converged 3-node cluster to start from")
    original = VERSION.search((REPO / INIT).read_text()).group(1)
    assert set(versions(cluster).values()) == {original}, versions(cluster)
    run_id = f"upd{int(time.time())}"
    new = f"{original}+update.{run_id}"
    collections = collection_copy(tmp_path / "collections", new)

    # 1. The plan, and nothing changed.
    planned = run_update(lab, collections, "--check", "-e", "qluster_update_reinstall=true")
    said = " ".join(planned.split())
    old_leader = leader_name(before)
    assert "Rolling update of 3 nodes, one at a time:" in said, planned[-4000:]
    assert f"switchover: {old_leader} -> the ready follower with the least lag" in said, planned[-4000:]
    assert f"the agent {new} from the collection" in said, planned[-4000:]
    checked = converged_map(cluster, "the cluster unchanged after --check")
    assert (checked["leader"], checked["term"]) == (before["leader"], before["term"])
    assert set(versions(cluster).values()) == {original}

    # 2. The update, under writes.
    prepare(cluster, run_id)
    password = cluster.nodes[0].exec("cat", "/etc/qluster/db-password").stdout.strip()
    clients = Clients(cluster, run_id, password, seed=20, log_dir=tmp_path, use_pooler=True)
    watch = LeaderWatch(cluster)
    restored = False
    try:
        clients.start()
        wait_until(lambda: clients.writes.ids("insert", "ok"), 60, 0.5, "a first acknowledged write")
        watch.start()
        started = time.time()
        run_update(lab, collections, "-e", "qluster_update_reinstall=true")
        finished = time.time()
        after = converged_map(cluster, "every node streaming or leading after the update")
        wait_until(lambda: any(r["r"] == "ok" and r["t1"] >= finished for r in clients.writes.snapshot()),
                   60, 0.5, "writes acknowledged after the update")
        leaders = watch.stop()
        updated = versions_once_all(cluster, new)
        restarts = {node.hostname: postmaster_started(node) for node in cluster.nodes}
    finally:
        watch.stop()
        clients.stop()
        # 3. The checkout's agent again, by the same playbook (no reinstall: the agent alone changes).
        try:
            run_update(lab, None)
            restored = True
        finally:
            back = versions_once_all(cluster, original)

    # Read on the leader of now: putting the checkout's agent back moved it again.
    final = converged_map(cluster, "a converged cluster with the checkout's agent back")
    assert_no_write_lost(clients.writes, cluster, final, run_id)

    assert set(updated.values()) == {new}, f"agent versions after the update: {updated} (wanted {new})"
    late = {name: at for name, at in restarts.items() if at < started}
    assert not late, f"databases not restarted by the update (started before it, epoch s): {late}"
    # One switchover: the leader leaves the old leader's node once, in one election (one term).
    assert len(leaders) <= 2 and leaders[:1] == [old_leader], f"leaders seen during the update: {leaders}"
    assert leader_name(after) != old_leader, f"{old_leader} still leads after the update"
    assert after["term"] - before["term"] <= 1, f"term {before['term']} -> {after['term']}: more than one election"

    assert restored and set(back.values()) == {original}, f"agent versions after putting the checkout's back: {back}"

    # 4. Once more: nothing differs now, so no node restarts and the leader stays.
    still = converged_map(cluster, "a converged cluster before the run that changes nothing")
    quiet = {node.hostname: postmaster_started(node) for node in cluster.nodes}
    said = " ".join(run_update(lab, None).split())
    assert said.count("nothing changed, not restarted") == len(cluster.nodes), said[-4000:]
    again = converged_map(cluster, "the cluster after the run that changes nothing")
    assert (again["leader"], again["term"]) == (still["leader"], still["term"])
    assert {node.hostname: postmaster_started(node) for node in cluster.nodes} == quiet
