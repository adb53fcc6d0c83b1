"""Backups and point-in-time recovery with pgBackRest (issue 19 items 4 and 5) on the deployed test lab.

1. Rows written with their commit times, a scheduled full backup started on every node (only the
   leader's run backs up), more rows, a target time T taken from the leader's clock with a second
   of quiet on either side, more rows; `playbooks/restore.yml --check` changes nothing, the
   playbook without confirmation refuses, and with it the cluster goes back to T: every row
   acknowledged before T is there, none after; a leader and two streaming replicas, writable,
   the new write on both replicas, and WAL reaching the repository again (`pgbackrest check`).
2. The leader's host is killed while a full backup runs on it: a new leader is elected, the next
   scheduled run (started on every node again) backs up from the new leader, and
   `pgbackrest check` passes.

Both leave the cluster whole (leader + 2 streaming) for the tests after them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import cluster_map, three_healthy_members
from qlab import deploy
from qlab.faults import Host, keep_if, wait_until
from qlab.topology import REPO

CLUSTER_NAME = "qluster1-qhb"  # qhb_node_cluster_name's default: the confirmation phrase
STANZA = CLUSTER_NAME
TABLE = "backup_lab"


def run_playbook(lab, playbook: str, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory_path), str(REPO / playbook), *args]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=deploy.ansible_env(), check=False, capture_output=True, text=True)
    print(f"{playbook} {' '.join(args)}: exit {proc.returncode} in {time.monotonic() - started:.0f} s")
    if expect_ok and proc.returncode != 0:
        pytest.fail(f"{playbook} failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}")
    return proc


def psql(host: Host, sql: str, check: bool = True) -> str:
    proc = host.exec("runuser", "-u", "qhb", "--", "psql", "-h", "/var/run/postgresql", "-d", "postgres",
                     "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql, check=check)
    return proc.stdout.strip()


def pgbackrest(host: Host, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return host.exec("runuser", "-u", "qhb", "--", "pgbackrest", f"--stanza={STANZA}", *args, check=check, timeout=600)


def backups(host: Host) -> list[dict]:
    info = json.loads(pgbackrest(host, "--output=json", "info").stdout)
    return info[0].get("backup", []) if info else []


def healthy_map(lab, timeout: float = 300) -> dict:
    return wait_until(lambda: keep_if(cluster_map(lab), three_healthy_members), timeout, 2,
                      "a leader and two streaming replicas")


def leader_name(cluster: dict) -> str:
    return next(m["name"] for m in cluster["members"] if m["id"] == cluster["leader"])


def followers(cluster: dict) -> list[str]:
    return [m["name"] for m in cluster["members"] if m.get("voter") and m["id"] != cluster["leader"]]


def write_rows(leader: Host, batch: str, count: int) -> dict[int, str]:
    """`count` rows, each its own autocommit transaction; id -> commit time, for the acknowledged ones."""
    rows = {}
    for _attempt in range(count):
        out = psql(leader, f"INSERT INTO {TABLE} (batch) VALUES ('{batch}') RETURNING id || ' ' || committed_at")
        row_id, committed = out.split(" ", 1)
        rows[int(row_id)] = committed
    return rows


def run_backup_everywhere(hosts: dict[str, Host], names: list[str]) -> None:
    """What the timers do: the same unit on every node; only the leader's run backs up."""
    for name in names:
        hosts[name].exec("systemctl", "start", "qluster-backup@full.service", timeout=900)


@pytest.fixture
def lab(deployed_test_lab):
    healthy_map(deployed_test_lab)
    return deployed_test_lab


def test_restore_to_a_time_keeps_every_row_before_it_and_none_after(lab, hosts):
    cluster = healthy_map(lab)
    leader = hosts[leader_name(cluster)]
    names = [m["name"] for m in cluster["members"] if m.get("voter")]
    psql(leader, f"DROP TABLE IF EXISTS {TABLE}")
    psql(leader, f"CREATE TABLE {TABLE} (id serial PRIMARY KEY, batch text NOT NULL,"
                 " committed_at timestamptz NOT NULL DEFAULT clock_timestamp())")
    before_backup = write_rows(leader, "before backup", 20)

    known = {b["label"] for b in backups(leader)}
    run_backup_everywhere(hosts, names)
    new = [b for b in backups(leader) if b["label"] not in known]
    assert len(new) == 1, f"one backup from the three nodes' runs, got {[b['label'] for b in new]}"

    after_backup = write_rows(leader, "after backup", 20)
    time.sleep(1.5)
    target = psql(leader, "SELECT clock_timestamp()")
    time.sleep(1.5)
    after_target = write_rows(leader, "after target", 20)
    # The segment holding the last rows reaches the repository (a recovery to T must read a
    # commit after T to know it is there).
    pgbackrest(leader, "check")
    expected = set(before_backup) | set(after_backup)

    check_run = run_playbook(lab, "playbooks/restore.yml", "--check", "-e", "qhb_restore_type=time",
                             "-e", f"qhb_restore_target='{target}'")
    assert "Would restore" in check_run.stdout
    assert psql(leader, f"SELECT count(*) FROM {TABLE}") == str(len(expected) + len(after_target)), "--check changed data"

    refused = run_playbook(lab, "playbooks/restore.yml", "-e", "qhb_restore_type=time",
                           "-e", f"qhb_restore_target='{target}'", expect_ok=False)
    assert refused.returncode != 0
    assert "DESTROYS" in " ".join(refused.stdout.split())

    started = time.monotonic()
    run_playbook(lab, "playbooks/restore.yml", "-e", f"qhb_restore_confirm={CLUSTER_NAME}",
                 "-e", "qhb_restore_type=time", "-e", f"qhb_restore_target='{target}'")
    restored = healthy_map(lab)
    print(f"restore.yml to T and a healthy cluster: {time.monotonic() - started:.0f} s")

    new_leader = hosts[leader_name(restored)]
    present = {int(i) for i in psql(new_leader, f"SELECT id FROM {TABLE}").split()}
    missing = expected - present
    resurrected = present & set(after_target)
    assert not missing, f"{len(missing)} rows committed before T = {target} are missing: {sorted(missing)[:10]}"
    assert not resurrected, f"{len(resurrected)} rows committed after T = {target} are back: {sorted(resurrected)[:10]}"
    assert present == expected
    assert psql(new_leader, f"SELECT count(*) FROM {TABLE} WHERE committed_at >= '{target}'") == "0"

    marker = write_rows(new_leader, "after restore", 1)
    for name in followers(restored):
        wait_until(lambda n=name: psql(hosts[n], f"SELECT count(*) FROM {TABLE} WHERE id = {next(iter(marker))}",
                                       check=False) == "1", 60, 1, f"the write after the restore on {name}")
    pgbackrest(new_leader, "check")


def test_a_backup_cut_by_a_failover_is_followed_by_one_from_the_new_leader(lab, hosts):
    cluster = healthy_map(lab)
    old = leader_name(cluster)
    names = [m["name"] for m in cluster["members"] if m.get("voter")]
    leader = hosts[old]
    # Enough data that the backup is still copying when the host dies.
    psql(leader, "DROP TABLE IF EXISTS backup_lab_bulk")
    psql(leader, "CREATE TABLE backup_lab_bulk AS SELECT g AS id, md5(g::text) || repeat('x', 400) AS pad"
                 " FROM generate_series(1, 400000) g")
    known = {b["label"] for b in backups(leader)}

    leader.exec("systemctl", "start", "--no-block", "qluster-backup@full.service")
    wait_until(lambda: leader.exec("pgrep", "-u", "qhb", "-f", "pgbackrest.*backup", check=False).returncode == 0,
               60, 0.2, "pgbackrest backup running on the leader")
    time.sleep(1)
    killed_at = time.time()
    leader.kill()
    wait_until(lambda: keep_if(cluster_map(lab, next(n for n in names if n != old)),
                               lambda m: m is not None and m.get("leader") is not None and leader_name(m) != old),
               120, 0.5, f"a new leader after {old} died")
    leader.start()
    after = healthy_map(lab)
    new_leader = hosts[leader_name(after)]

    run_backup_everywhere(hosts, names)
    done = [b for b in backups(new_leader) if b["label"] not in known]
    complete = [b for b in done if b["timestamp"]["start"] >= killed_at]
    assert complete, f"no backup completed after the failover: {[b['label'] for b in done]}"
    assert not complete[-1].get("error", False), complete[-1]
    pgbackrest(new_leader, "check")
    psql(new_leader, "DROP TABLE IF EXISTS backup_lab_bulk")


def test_the_backup_program_configuration_and_units_are_roots(lab, hosts):
    """qhb runs them (the timers' unit, archive-push in the database) but may not change them."""
    cluster = healthy_map(lab)
    for name in (m["name"] for m in cluster["members"] if m.get("voter")):
        host = hosts[name]
        for path in ("/usr/local/libexec/qluster-backup.py", "/etc/pgbackrest/pgbackrest.conf",
                     "/etc/systemd/system/qluster-backup@.service", "/etc/systemd/system/qluster-backup-full.timer"):
            owner, mode = host.exec("stat", "-c", "%U %a", path).stdout.split()
            assert owner == "root" and int(mode[-2:], 8) & 0o22 == 0, f"{name}:{path}: owner {owner}, mode {mode}"
            attempt = host.exec("runuser", "-u", "qhb", "--", "sh", "-c", f"echo pwned >> {path}", check=False)
            assert attempt.returncode != 0, f"qhb could write {path} on {name}"
        assert host.exec("systemctl", "is-active", "qluster-backup-full.timer", "qluster-backup-stanza.timer",
                         check=False).stdout.split() == ["active", "active"], f"backup timers not active on {name}"
