"""The day-2 playbooks (issue 7 item 6) run against the deployed test lab `qlabt`.

Each test runs a playbook the way an operator would (ansible-playbook with the lab's inventory)
and checks what the operator would then see: the cluster map, rows in the databases, the files
that list the nodes, the report. The tests share one deployed cluster (the `deployed_test_lab`
fixture) and run in file order; the destructive ones come last, and the last one (full removal)
deploys the cluster again so the lab is left as it was found.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import cluster_map, three_healthy_members
from qlab import deploy
from qlab.faults import Host, wait_until
from qlab.topology import DB_HOSTS, NFS_HOST, REPO

CLUSTER_NAME = "qluster1-qhb"  # qhb_node_cluster_name's default: the confirmation phrase


def run_playbook(lab, playbook: str, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
    path = REPO / playbook
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory_path), str(path), *args]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=deploy.ansible_env(), check=False, capture_output=True, text=True)
    print(f"{playbook} {' '.join(args)}: exit {proc.returncode} in {time.monotonic() - started:.0f} s")
    if expect_ok and proc.returncode != 0:
        pytest.fail(f"{playbook} failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}")
    return proc


def flat(output: str) -> str:
    """The output with Ansible's line wrapping undone, for looking up a message."""
    return " ".join(output.split())


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines as host -> {ok, changed, failed, ...}."""
    rows = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        rows[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return rows


def member(cluster: dict, name: str) -> dict | None:
    return next((m for m in cluster["members"] if m["name"] == name), None)


def keep_if(value, predicate):
    """value when predicate(value) holds, else None (for wait_until)."""
    return value if predicate(value) else None


def leader(cluster: dict) -> dict:
    return next(m for m in cluster["members"] if m["id"] == cluster["leader"])


def healthy_map(lab) -> dict:
    return wait_until(lambda: keep_if(any_map(lab), three_healthy_members),
                      timeout=180, interval=2, what="3 healthy members in the map")


def any_map(lab) -> dict | None:
    for name in DB_HOSTS:
        cluster = cluster_map(lab, name)
        if cluster and cluster.get("leader") is not None:
            return cluster
    return None


def psql(host: Host, sql: str, check: bool = True) -> subprocess.CompletedProcess:
    return host.exec("runuser", "-u", "qhb", "--", "psql", "-h", "/var/run/postgresql", "-d", "postgres",
                     "-AtXc", sql, check=check)


@pytest.fixture(scope="module")
def lab(deployed_test_lab):
    return deployed_test_lab


@pytest.fixture(scope="module")
def nodes(lab):
    return {h.hostname: Host(lab, h.hostname) for h in lab.hosts}


def test_guarded_playbooks_refuse_without_confirmation(lab):
    before = healthy_map(lab)
    for playbook, variable in (("playbooks/reinit_cluster.yml", "qluster_confirm_reinit"),
                               ("playbooks/remove_cluster.yml", "qluster_confirm_remove")):
        for args in ((), ("-e", f"{variable}=yes")):
            proc = run_playbook(lab, playbook, *args, expect_ok=False)
            assert proc.returncode != 0, proc.stdout[-3000:]
            assert f"{variable}={CLUSTER_NAME}" in flat(proc.stdout) and "Nothing was changed" in flat(proc.stdout)
            assert all(r.get("changed", 0) == 0 for r in recap(proc.stdout).values())
    after = healthy_map(lab)
    assert after["leader"] == before["leader"] and after["term"] == before["term"]


def test_switchover_moves_the_leader_and_writes_still_work(lab, nodes):
    before = healthy_map(lab)
    old = leader(before)
    target = next(m for m in before["members"] if m["voter"] and m["id"] != old["id"])
    proc = run_playbook(lab, "playbooks/switchover.yml", "-e", f"qluster_switchover_to={target['name']}")
    assert f"leader: {target['name']}" in proc.stdout  # the printed map
    after = healthy_map(lab)  # the old leader streams again as a replica
    assert after["leader"] == target["id"]
    assert member(after, old["name"])["db_role"] == "replica"
    row = uuid.uuid4().hex
    psql(nodes[target["name"]], "CREATE TABLE IF NOT EXISTS playbooks_lab (v text)")
    psql(nodes[target["name"]], f"INSERT INTO playbooks_lab VALUES ('{row}')")
    wait_until(lambda: psql(nodes[old["name"]], f"SELECT count(*) FROM playbooks_lab WHERE v = '{row}'",
                            check=False).stdout.strip() == "1",
               timeout=60, interval=1, what="the row replicated to the old leader")
    # Asked again for the node that already leads: nothing to do.
    again = run_playbook(lab, "playbooks/switchover.yml", "-e", f"qluster_switchover_to={target['name']}")
    assert all(r.get("changed", 0) == 0 for r in recap(again.stdout).values())
    assert healthy_map(lab)["leader"] == target["id"]


def test_diagnostics_report_names_every_node_and_reaches_the_databases(lab, tmp_path):
    healthy_map(lab)  # the report describes the cluster as it is: let the switchover above settle
    report_file = tmp_path / "report.txt"
    proc = run_playbook(lab, "playbooks/diagnostics.yml", "-e", f"qluster_diagnostics_file={report_file}")
    assert all(r.get("changed", 0) == 0 for r in recap(proc.stdout).values()), proc.stdout[-3000:]
    report = report_file.read_text()
    for name in (*DB_HOSTS, NFS_HOST):
        assert f"== {name} (" in report
    # Step 6: each database node connects to each node's database: one primary, two replicas.
    step6 = re.findall(r"^    (qluster-0\d) \([0-9.]+\): (.*)$", report, re.M)
    assert len(step6) == 9, report
    assert sorted(pair[1] for pair in step6) == ["ok, primary"] * 3 + ["ok, replica"] * 6, report
    assert "FAILED" not in report and "NOT LISTENING" not in report, report
    assert "Report file: " + str(report_file) in flat(proc.stdout)  # the printed report is the same


def test_remove_node_then_add_node_brings_it_back(lab, nodes):
    before = healthy_map(lab)
    old_leader = leader(before)
    # The leader is refused without a switchover, and nothing changes.
    refused = run_playbook(lab, "playbooks/remove_node.yml", "-e", f"qluster_node={old_leader['name']}",
                           expect_ok=False)
    assert refused.returncode != 0 and "it is the leader" in flat(refused.stdout), refused.stdout[-3000:]
    assert healthy_map(lab)["leader"] == before["leader"]

    gone = next(m["name"] for m in before["members"]
                if m["voter"] and m["id"] != before["leader"] and m["name"] != DB_HOSTS[0])
    address = nodes[gone].address
    run_playbook(lab, "playbooks/remove_node.yml", "-e", f"qluster_node={gone}")
    cluster = any_map(lab)
    assert member(cluster, gone) is None
    assert len([m for m in cluster["members"] if m["voter"]]) == 2
    assert nodes[gone].exec("systemctl", "is-active", "qluster", check=False).stdout.strip() != "active"
    assert nodes[gone].exec("systemctl", "is-enabled", "qluster", check=False).stdout.strip() == "disabled"
    for name in DB_HOSTS:
        if name != gone:
            assert f"{address}/32" not in nodes[name].exec("cat", "/qhb/data/pg_hba.conf").stdout
    assert address not in nodes[NFS_HOST].exec("cat", "/etc/ganesha/ganesha.conf").stdout

    # --limit with the new host alone is refused before anything changes.
    narrow = run_playbook(lab, "site.yml", "--tags", "add_node", "--limit", gone, expect_ok=False)
    assert narrow.returncode != 0 and "the --limit leaves out" in flat(narrow.stdout), narrow.stdout[-3000:]

    run_playbook(lab, "site.yml", "--tags", "add_node", "--limit", f"{gone},qhb_nodes,nfs_servers,qcp_hosts")
    after = healthy_map(lab)
    back = member(after, gone)
    assert back is not None and back["db_role"] == "replica" and back["streaming"]
    for name in DB_HOSTS:
        assert f"{address}/32" in nodes[name].exec("cat", "/qhb/data/pg_hba.conf").stdout
    assert address in nodes[NFS_HOST].exec("cat", "/etc/ganesha/ganesha.conf").stdout
    # The pooler's observer knows the node again (its HAProxy sync follows this map).
    pooler_map = wait_until(lambda: keep_if(cluster_map(lab, NFS_HOST), lambda c: c and member(c, gone)),
                            timeout=60, interval=1, what=f"{gone} in the pooler's map")
    assert member(pooler_map, gone)["streaming"]


def test_reinit_cluster_with_confirmation_yields_a_fresh_cluster(lab, nodes):
    first = nodes[leader(healthy_map(lab))["name"]]
    psql(first, "CREATE TABLE IF NOT EXISTS playbooks_lab (v text)")
    psql(first, "INSERT INTO playbooks_lab VALUES ('before reinit')")
    run_playbook(lab, "playbooks/reinit_cluster.yml", "-e", f"qluster_confirm_reinit={CLUSTER_NAME}")
    after = healthy_map(lab)
    assert leader(after)["name"] == DB_HOSTS[0]  # the initial leader bootstrapped the new cluster
    for name in DB_HOSTS:
        # The old data is gone everywhere: a fresh database without the table.
        assert psql(nodes[name], "SELECT to_regclass('playbooks_lab') IS NULL").stdout.strip() == "t"
    new_leader = nodes[DB_HOSTS[0]]
    psql(new_leader, "CREATE TABLE playbooks_lab (v text)")
    psql(new_leader, "INSERT INTO playbooks_lab VALUES ('after reinit')")
    for name in DB_HOSTS[1:]:
        wait_until(lambda n=name: psql(nodes[n], "SELECT count(*) FROM playbooks_lab", check=False).stdout.strip() == "1",
                   timeout=60, interval=1, what=f"the new row on {name}")


def test_remove_cluster_with_confirmation_leaves_nothing(lab, nodes):
    try:
        run_playbook(lab, "playbooks/remove_cluster.yml", "-e", f"qluster_confirm_remove={CLUSTER_NAME}")
        for name in (*DB_HOSTS, NFS_HOST):
            host = nodes[name]
            assert host.exec("id", "qhb", check=False).returncode != 0
            units = host.exec("systemctl", "list-units", "--all", "--no-legend", "qluster*", "pgbouncer*",
                              "haproxy*", "nfs-ganesha*", check=False).stdout
            assert not [u for u in units.splitlines() if " active " in u or "running" in u], units
            procs = host.exec("ps", "-eo", "args").stdout
            assert not re.search(r"qluster|postgres:|pgbouncer|haproxy|ganesha", procs), procs
            for path in ("/qhb", "/opt/qluster", "/etc/qluster", "/var/lib/qluster"):
                assert host.exec("test", "-e", path, check=False).returncode != 0, f"{path} left on {name}"
        for name in DB_HOSTS:
            # The WAL archive is the lab's shared volume: emptied, not deleted.
            assert nodes[name].exec("ls", "-A", "/opt/qhb-backup/wal").stdout.strip() == ""
    finally:
        # Other tests share the lab: leave it deployed again.
        deploy.run_site(lab, [])
        healthy_map(lab)
