"""Backup and point-in-time restore of a deployed lab with pgBackRest (issue 19, docs/backup.md).

A table of --size-gb gigabytes (default 1) is written on the leader, then a scheduled full backup
is started on every node as the timers do (only the leader's run backs up) and timed; a marker
row, a target time T, a row after T and `pgbackrest check`; then `playbooks/restore.yml` back to
T. Figures: the database's size, the full backup's duration and repository size, the restore
playbook's duration, and the RTO: from the start of the restore to the first write the restored
leader accepts (polled every 0.5 s during the playbook), and to a leader with two streaming
replicas. The rows before T must be back and the row after T gone. Prints the figures and writes
bench/results/backup_restore.json (with the machine's load average); the bench table is dropped
at the end. DESTROYS the lab cluster's data newer than T, like the restore it measures. Run as
root against a deployed lab:

    .venv/bin/python bench/backup_restore.py --lab qlabt --size-gb 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))

from qlab import deploy  # noqa: E402  (after the path above)
from qlab.agent_api import read_map  # noqa: E402
from qlab.faults import Host, keep_if, wait_until  # noqa: E402
from qlab.lifecycle import address  # noqa: E402
from qlab.topology import lab_by_name  # noqa: E402

RESULTS = REPO / "bench" / "results"
CLUSTER_NAME = "qluster1-qhb"
TABLE = "bench_backup"
ROW_BYTES = 1000  # a row of the bench table on disk, about


def psql(host: Host, sql: str, check: bool = True, timeout: float = 3600) -> subprocess.CompletedProcess:
    return host.exec("runuser", "-u", "qhb", "--", "psql", "-h", "/var/run/postgresql", "-d", "postgres",
                     "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql, check=check, timeout=timeout)


def pgbackrest(host: Host, *args: str) -> str:
    return host.exec("runuser", "-u", "qhb", "--", "pgbackrest", f"--stanza={CLUSTER_NAME}", *args, timeout=3600).stdout


def healthy(cluster: dict | None) -> bool:
    if not cluster or cluster.get("leader") is None:
        return False
    voters = [m for m in cluster["members"] if m.get("voter")]
    return (len(voters) == 3 and all(m["state"] == "healthy" for m in voters)
            and sum(m["db_role"] == "replica" and m.get("streaming") for m in voters) == 2)


def leader_name(cluster: dict) -> str:
    return next(m["name"] for m in cluster["members"] if m["id"] == cluster["leader"])


def any_map(lab) -> dict | None:
    for name in lab.db_hostnames:
        found = read_map(address(lab, name), 1.5)
        if found and found.get("leader") is not None:
            return found
    return None


def load() -> float:
    return os.getloadavg()[0]


class WritableWatch(threading.Thread):
    """Tries one insert on each database node every 0.5 s: once every node refused (the restore
    stopped the cluster), the time of the first insert accepted again."""

    def __init__(self, hosts: list[Host], started: float) -> None:
        super().__init__(daemon=True)
        self.hosts = hosts
        self.started = started
        self.first_write: float | None = None
        self.where: str | None = None
        self.stop = threading.Event()

    def writable(self) -> str | None:
        for host in self.hosts:
            proc = psql(host, "CREATE TABLE IF NOT EXISTS bench_backup_rto (at timestamptz DEFAULT now());"
                              " INSERT INTO bench_backup_rto DEFAULT VALUES", check=False, timeout=10)
            if proc.returncode == 0:
                return host.hostname
        return None

    def run(self) -> None:
        down = False
        while not self.stop.is_set():
            where = self.writable()
            if where is None:
                down = True
            elif down:
                self.first_write, self.where = time.monotonic() - self.started, where
                return
            self.stop.wait(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--lab", default="qlabt", help="the deployed lab (qlab, qlabt, ...)")
    parser.add_argument("--size-gb", type=float, default=1.0, help="size of the bench table (>= 1 for the issue's figure)")
    args = parser.parse_args()
    lab = lab_by_name(args.lab)
    hosts = {name: Host(lab, name) for name in lab.db_hostnames}

    cluster = wait_until(lambda: keep_if(any_map(lab), healthy), 300, 2, "a healthy cluster to start from")
    leader = hosts[leader_name(cluster)]
    rows = int(args.size_gb * 1024 ** 3 / ROW_BYTES)
    print(f"writing {rows} rows (~{args.size_gb} GB) on {leader.hostname} ...", flush=True)
    started = time.monotonic()
    psql(leader, f"DROP TABLE IF EXISTS {TABLE}")
    # 30 independent md5s a row: about as compressible as text data, not a repeated pattern.
    pad = " || ".join(["md5(random()::text)"] * 30)
    psql(leader, f"CREATE TABLE {TABLE} AS SELECT g AS id, {pad} AS pad FROM generate_series(1, {rows}) g")
    write_s = time.monotonic() - started
    db_bytes = int(psql(leader, "SELECT pg_database_size('postgres')").stdout.strip())

    known = {b["label"] for b in json.loads(pgbackrest(leader, "--output=json", "info"))[0].get("backup", [])}
    load_before = load()
    started = time.monotonic()
    for host in hosts.values():  # the timers' way: only the leader's run backs up
        host.exec("systemctl", "start", "qluster-backup@full.service", timeout=7200)
    backup_s = time.monotonic() - started
    new = [b for b in json.loads(pgbackrest(leader, "--output=json", "info"))[0]["backup"] if b["label"] not in known]
    if len(new) != 1:
        print(f"expected one new backup, got {[b['label'] for b in new]}")
        return 1
    backup = new[0]

    psql(leader, "CREATE TABLE IF NOT EXISTS bench_backup_marks (what text, at timestamptz DEFAULT clock_timestamp())")
    psql(leader, "INSERT INTO bench_backup_marks (what) VALUES ('before T')")
    time.sleep(1.5)
    target = psql(leader, "SELECT clock_timestamp()").stdout.strip()
    time.sleep(1.5)
    psql(leader, "INSERT INTO bench_backup_marks (what) VALUES ('after T')")
    pgbackrest(leader, "check")

    restore_started = time.monotonic()
    watch = WritableWatch(list(hosts.values()), restore_started)
    watch.start()
    restore_args = ["-e", f"qhb_restore_confirm={CLUSTER_NAME}", "-e", "qhb_restore_type=time",
                    "-e", f"qhb_restore_target='{target}'"]
    deploy.run_playbook(lab, "playbooks/restore.yml", restore_args)
    playbook_s = time.monotonic() - restore_started
    restored = wait_until(lambda: keep_if(any_map(lab), healthy), 600, 1, "a leader and two streaming replicas")
    healthy_s = time.monotonic() - restore_started
    watch.stop.set()
    watch.join(timeout=30)
    new_leader = hosts[leader_name(restored)]
    marks = psql(new_leader, "SELECT string_agg(what, ',' ORDER BY at) FROM bench_backup_marks").stdout.strip()
    restored_rows = int(psql(new_leader, f"SELECT count(*) FROM {TABLE}").stdout.strip())
    psql(new_leader, f"DROP TABLE IF EXISTS {TABLE}, bench_backup_marks, bench_backup_rto")

    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "lab": lab.name,
        "database_bytes": db_bytes,
        "table_rows": rows,
        "write_seconds": round(write_s, 1),
        "backup_seconds": round(backup_s, 1),
        "backup_label": backup["label"],
        "backup_repo_bytes": backup["info"]["repository"]["delta"],
        "restore_playbook_seconds": round(playbook_s, 1),
        "rto_writable_seconds": None if watch.first_write is None else round(watch.first_write, 1),
        "rto_writable_on": watch.where,
        "rto_healthy_seconds": round(healthy_s, 1),
        "rows_restored_ok": restored_rows == rows,
        "marks_after_restore": marks,
        "marks_ok": marks == "before T",
        "load_average_1m_at_backup": round(load_before, 2),
        "load_average_1m_at_end": round(load(), 2),
    }
    for key, value in result.items():
        print(f"{key:28} {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "backup_restore.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["rows_restored_ok"] and result["marks_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
