"""A new cluster from three empty nodes started at the same moment (real agents, PostgreSQL 15).

Seed 000 §7 starts the initial leader first and each follower after it; a deployment that
starts every node at once (all units enabled, a host reboot, a parallel play) must come up the
same way: one node creates the database, the others clone it, and there is only one database.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .harness import Cluster, chown_to_postgres, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/lib/postgresql/15/bin/initdb").exists(),
                                reason="needs root and PostgreSQL 15 (the agents run it as `postgres`)")


ROLE = "qluster_replication"
ROLE_PASSWORD = "replication-password-boot"
# As the role deploys it: replication only as a role of its own, with its password (created
# right after initdb), so a clone started before that fails.
HBA = f"""\
local all all trust
host all all 127.0.0.0/8 trust
host replication {ROLE} 127.0.0.0/8 scram-sha-256
"""


@pytest.fixture(scope="module")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="qluster-it-boot-", dir="/tmp"))
    root.chmod(0o755)
    password = root / "replication-password"
    password.write_text(ROLE_PASSWORD + "\n")
    password.chmod(0o600)
    passfile = root / "pgpass"
    passfile.write_text(f"*:*:*:{ROLE}:{ROLE_PASSWORD}\n")
    passfile.chmod(0o600)
    chown_to_postgres(passfile)
    c = Cluster(root, hba=HBA, postgres={
        "replication-user": ROLE, "replication-password-file": str(password), "passfile": str(passfile)})
    c.prepare()
    yield c
    c.shutdown()
    if os.environ.get("QLUSTER_KEEP_IT"):
        print(f"integration cluster kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


def system_identifier(node) -> int:
    return node.query("SELECT system_identifier FROM pg_control_system()")[0][0]


def test_all_three_started_at_once_make_one_database_with_two_streaming_replicas(cluster):
    n1, n2, n3 = cluster.nodes
    n1.start()
    n2.start(marker=True)
    n3.start(marker=True)
    wait_for(lambda: cluster.healthy(cluster.nodes), 90, "a leader and two streaming replicas")
    assert cluster.leader() is n1 and cluster.writable_nodes() == [n1]
    assert sorted(n1.query("SELECT usename, state FROM pg_stat_replication")) == [(ROLE, "streaming")] * 2
    assert "bootstrapping a new cluster" in n1.log_text()
    for joiner in (n2, n3):
        assert "bootstrapping a new cluster" not in joiner.log_text()
        # Each joiner cloned once, after the replication role had its password: none failed.
        assert joiner.log_text().count("base backup finished") == 1
        assert "base backup failed" not in joiner.log_text()
        wait_for(lambda j=joiner: not j.marker.exists(), 10, "the add_node marker to be removed")
    assert len({system_identifier(n) for n in cluster.nodes}) == 1
    # Quorum commit on from the start: a commit reaches a replica.
    n1.query("CREATE TABLE boot(v int)")
    n1.query("INSERT INTO boot VALUES (1)")
    wait_for(lambda: all(n.query("SELECT count(*) FROM boot")[0][0] == 1 for n in (n2, n3)), 15,
             "the row on both replicas")


def test_a_node_without_marker_or_state_next_to_a_running_cluster_starts_no_second_one(cluster):
    # A host rebuilt without its add_node marker looks like an initial leader; the members it
    # hears announce themselves as members, not newcomers, so it waits to be added instead.
    n1, _n2, n3 = cluster.nodes
    n3.stop_agent()
    n3.stop_database()
    shutil.rmtree(n3.dir / "raft")
    shutil.rmtree(n3.pgdata)
    n3.pgdata.mkdir(mode=0o700)
    shutil.chown(n3.pgdata, "postgres", "postgres")
    n3.start()
    wait_for(lambda: "not bootstrapping, waiting to be added" in n3.log_text(), 30, "node 3 to decide")
    assert "bootstrapping a new cluster" not in n3.log_text()
    assert cluster.writable_nodes() == [n1]
    assert n3.map()["leader"] in (None, n1.node_id)
