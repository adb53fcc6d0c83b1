"""A busy but healthy cluster does not fail over (issue 22).

pgbench TPC-B through the pooler with 16 clients saturates both CPUs of this machine, and a busy
loop per CPU runs inside the leader's host beside its database (a batch job, a backup's
compression). Before the agent ran ahead of its database (unit Nice=, the database started 10
nicer), the leader lost its quorum within minutes under this load, fenced its database and
pgbench aborted. The test asserts what a user would notice: the same leader in the same term on
every node, and no pgbench client aborted or transaction failed. bench/stability.py runs the
same and five other scenarios for ten minutes each; this is its short form for `make test`.
"""

from __future__ import annotations

import os
import re

import pytest

from qlab.faults import wait_until
from qlab.topology import DB_HOSTS, NFS_HOST

from conftest import cluster_map, three_healthy_members

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
SECONDS = int(os.environ.get("QLAB_STABILITY_SECONDS", "90"))


def terms(lab) -> dict[str, tuple[int, int]]:
    """(term, leader) as each database node's agent sees it."""
    seen = {}
    for name in DB_HOSTS:
        cluster = cluster_map(lab, name, timeout=10)
        assert cluster is not None, f"{name}'s agent does not answer GET /map"
        seen[name] = (cluster["term"], cluster["leader"])
    return seen


def test_saturated_cpus_and_a_busy_leader_host_keep_the_leader(deployed_test_lab, hosts):
    lab = deployed_test_lab
    wait_until(lambda: three_healthy_members(cluster_map(lab)), timeout=300, interval=2,
               what="three healthy members")
    cluster = cluster_map(lab)
    leader, leader_address = next((m["name"], m["address"]) for m in cluster["members"] if m["id"] == cluster["leader"])
    client = hosts[next(name for name in DB_HOSTS if name != leader)]
    pooler = hosts[NFS_HOST].address
    password = client.exec("cat", "/etc/qluster/db-password").stdout.strip()

    def pgbench(address: str) -> list[str]:
        return ["env", f"PGPASSWORD={password}", PGBENCH, "-h", address, "-p", "5432", "-U", "qhb"]

    client.exec(*pgbench(leader_address), "-i", "-q", "-s", "5", "postgres", timeout=300)
    before = terms(lab)
    assert len(set(before.values())) == 1, before
    hog = hosts[leader]
    hog.sh(f"for i in $(seq {os.cpu_count() or 2}); do nohup timeout {SECONDS + 30} sh -c 'while :; do :; done' "
           ">/dev/null 2>&1 & done")
    try:
        run = client.exec(*pgbench(pooler), "-c", "16", "-j", "2", "-T", str(SECONDS), "postgres", check=False,
                          timeout=SECONDS + 120)
    finally:
        # The bracket keeps pkill from matching the shell that runs it.
        hog.sh("pkill -f '[w]hile :; do :; done' || true")
    after = terms(lab)
    journal = hog.journal("qluster", lines=30)
    assert after == before, f"leadership moved under load: {before} -> {after}\n{journal}"
    assert run.returncode == 0, f"pgbench failed: {run.stdout[-1500:]}{run.stderr[-1500:]}"
    failed = re.search(r"number of failed transactions: (\d+)", run.stdout)
    assert "aborted" not in run.stdout + run.stderr and (failed is None or failed.group(1) == "0"), run.stdout[-1500:]
    assert re.search(r"tps = [0-9.]+", run.stdout), run.stdout[-1500:]


@pytest.fixture(autouse=True)
def healthy_afterwards(deployed_test_lab):
    yield
    wait_until(lambda: three_healthy_members(cluster_map(deployed_test_lab)), timeout=300, interval=2,
               what="three healthy members after the stability test")
