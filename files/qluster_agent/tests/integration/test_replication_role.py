"""Two agents whose replicas stream as a replication role of its own (postgres.replication-user).

The hba file lets only that role make replication connections, and only with its password
(scram-sha-256, found in postgres.passfile): a base backup, a walreceiver or a leader probe
logging in as the superuser would be refused, and the replica would never stream.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .harness import OS_USER, Cluster, chown_to_postgres, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/lib/postgresql/15/bin/initdb").exists(),
                                reason="needs root and PostgreSQL 15 (the agents run it as `postgres`)")

ROLE = "qluster_replication"
ROLE_PASSWORD = "replication-password-it"
HBA = f"""\
local all all trust
host all all 127.0.0.0/8 trust
host replication {ROLE} 127.0.0.0/8 scram-sha-256
"""


@pytest.fixture(scope="module")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="qluster-it-repl-", dir="/tmp"))
    root.chmod(0o755)
    password = root / "replication-password"
    password.write_text(ROLE_PASSWORD + "\n")
    password.chmod(0o600)
    # Read by the agents' leader probe (as root), the base backups and the walreceivers (as postgres).
    passfile = root / "pgpass"
    passfile.write_text(f"*:*:*:{ROLE}:{ROLE_PASSWORD}\n")
    passfile.chmod(0o600)
    chown_to_postgres(passfile)
    # Addresses of their own (127.0.0.4 and .5), apart from test_cluster.py's nodes.
    c = Cluster(root, count=2, first=4, hba=HBA, postgres={
        "replication-user": ROLE, "replication-password-file": str(password), "passfile": str(passfile)})
    c.prepare()
    yield c
    c.shutdown()
    if os.environ.get("QLUSTER_KEEP_IT"):
        print(f"integration cluster kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


def test_a_replica_streams_as_the_replication_role_which_is_no_superuser(cluster):
    leader, replica = cluster.nodes
    leader.start()
    wait_for(lambda: cluster.leader([leader]) is leader and leader.writable(), 60, "the first node to bootstrap and lead")
    # Right after initdb: the role created with its own password, the superuser given password-file's.
    wait_for(lambda: leader.query(
        "SELECT rolsuper, rolreplication, rolcanlogin, rolcreaterole, rolcreatedb, rolbypassrls, "
        "rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname = %s", (ROLE,))
        == [(False, True, True, False, False, False, True)], 10, "the replication role")
    assert leader.query("SELECT rolsuper, rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname = %s",
                        (OS_USER,)) == [(True, True)]
    replica.start(marker=True)
    wait_for(lambda: cluster.healthy(cluster.nodes), 90, "the second node to clone and stream")
    name = f"qluster_{replica.node_id}"
    assert leader.query("SELECT usename, application_name, state FROM pg_stat_replication") == [
        (ROLE, name, "streaming")]
    conninfo = replica.query("SHOW primary_conninfo")[0][0]
    assert f"user={ROLE}" in conninfo and "password" not in conninfo
