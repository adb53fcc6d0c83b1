"""The idle cost of the agent: CPU of each agent and of the database it supervises, forks per second.

Three agents and three PostgreSQL 15 instances on one machine (the integration tests' harness,
moved to 127.0.1.1-3 and ports of their own so that it can run beside the integration tests).
Once the cluster is healthy (a leader with a writable database, both others streaming replicas),
nothing is asked of it during the window: no writes, no API calls, no health checks. Measured:

  agent     user+system CPU of the agent process (all its threads) plus that of the children it
            waited for (cutime+cstime: pg_ctl, pg_controldata, ...).
  database  the postmaster and every child alive at either end of the window, each with its own
            cutime+cstime; a backend that forks and exits within the window (the HA loop's
            short sessions) is reaped by the postmaster, so its CPU is in the postmaster's
            cutime+cstime. A child alive at the start that exits during the window counts with
            its whole life; idle, such children are the agent's own short sessions (milliseconds).
  forks/s   new sessions per second from pg_stat_database.sessions (PostgreSQL 14+), summed over
            the databases, minus the bench's own reading sessions.

Prints a table with the load average and writes JSON. Run as root (the agents run PostgreSQL as
the postgres user):

    .venv/bin/python bench/agent_idle.py --window 60 --json bench/results/agent_idle.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "files" / "qluster_agent"))
from tests.integration import harness  # noqa: E402
from tests.integration.harness import Cluster, Node, wait_for  # noqa: E402

TICK = 1.0 / os.sysconf("SC_CLK_TCK")
SUBNET = "127.0.1"
UDP_PORT = 19899
API_BASE = 18280
PG_BASE = 16540


class BenchNode(Node):
    """A harness node on addresses and ports of its own (the integration tests use 127.0.0.N)."""

    def __init__(self, root: Path, number: int, count: int) -> None:
        super().__init__(root, number, count)
        self.ip = f"{SUBNET}.{number}"
        self.api_port = API_BASE + number
        self.pg_port = PG_BASE + number
        self.peers = [f"{SUBNET}.{i}:{UDP_PORT}" for i in range(1, count + 1)]
        self.node_id = int.from_bytes(bytes(int(x) for x in self.ip.split(".")), "big")

    def prepare(self, templates: Path) -> None:
        super().prepare(templates)
        config = json.loads(self.config_path.read_text())
        config["udp"]["socket"]["group"] = f"239.0.0.1:{UDP_PORT}"
        self.config_path.write_text(json.dumps(config))


def bench_cluster(root: Path, count: int = 3) -> Cluster:
    cluster = Cluster(root, count)
    cluster.nodes = [BenchNode(root, n, count) for n in range(1, count + 1)]
    return cluster


def stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after "pid (comm)": fields[0] is field 3 (state), so utime, stime,
    cutime and cstime (fields 14-17) are fields[11:15]; None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stream:
            return stream.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_seconds(pid: int) -> float:
    """utime+stime+cutime+cstime of one process, in seconds (0 when gone)."""
    fields = stat_fields(pid)
    return 0.0 if fields is None else sum(int(value) for value in fields[11:15]) * TICK


def children(pid: int) -> list[int]:
    """The direct children of a process (all its threads' lists)."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children", encoding="ascii") as stream:
                found.extend(int(child) for child in stream.read().split())
        except OSError:
            continue
    return found


def database_seconds(postmaster: int) -> dict[int, float]:
    """CPU seconds per process of one server: the postmaster (with its reaped children) and
    each live child (with its own reaped children, such as an archiver's archive_command)."""
    # Children first: one that exits between the two reads is then counted in the postmaster's
    # cutime as well (a few milliseconds twice) rather than not at all.
    seconds = {child: process_seconds(child) for child in children(postmaster)}
    seconds[postmaster] = process_seconds(postmaster)
    return seconds


def sessions(node: Node) -> int:
    return int(node.query("SELECT sum(sessions) FROM pg_stat_database")[0][0] or 0)


def machine_busy() -> tuple[float, float]:
    """(busy, total) seconds of all CPUs since boot, from /proc/stat's first line."""
    with open("/proc/stat", encoding="ascii") as stream:
        values = [int(v) * TICK for v in stream.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return total - idle, total


def measure(cluster: Cluster, window: float) -> dict:
    nodes = cluster.nodes
    leader = cluster.leader(nodes)
    postmasters = {node.number: node.postmaster_pid() for node in nodes}
    sessions_before = {node.number: sessions(node) for node in nodes}
    load_before = os.getloadavg()
    busy_before = machine_busy()
    started = time.monotonic()
    agent_before = {node.number: process_seconds(node.process.pid) for node in nodes}
    db_before = {node.number: database_seconds(postmasters[node.number]) for node in nodes}
    time.sleep(window)  # the measurement window itself, not a wait for anything
    agent_after = {node.number: process_seconds(node.process.pid) for node in nodes}
    db_after = {node.number: database_seconds(postmasters[node.number]) for node in nodes}
    elapsed = time.monotonic() - started
    busy_after = machine_busy()
    load_after = os.getloadavg()
    sessions_after = {node.number: sessions(node) for node in nodes}
    counted = time.monotonic() - started
    result_nodes = {}
    for node in nodes:
        number = node.number
        before, after = db_before[number], db_after[number]
        # A process alive at the start and gone at the end is in the postmaster's cutime now.
        db_used = sum(after.values()) - sum(before.values())
        agent_used = agent_after[number] - agent_before[number]
        # The bench's first reading session is counted once it ends (within the window).
        new_sessions = sessions_after[number] - sessions_before[number] - 1
        result_nodes[str(number)] = {
            "node_id": node.node_id, "role": "leader" if node is leader else "replica",
            "agent_pid": node.process.pid, "postmaster_pid": postmasters[number],
            "agent_cpu_seconds": round(agent_used, 3),
            "agent_percent_of_one_core": round(100 * agent_used / elapsed, 2),
            "database_cpu_seconds": round(db_used, 3),
            "database_percent_of_one_core": round(100 * db_used / elapsed, 2),
            "database_processes_at_end": len(after),
            "sessions": new_sessions,
            "forks_per_second": round(max(0, new_sessions) / counted, 2),
        }
    busy = busy_after[0] - busy_before[0]
    total = busy_after[1] - busy_before[1]
    return {
        "window_seconds": round(elapsed, 3), "cpus": os.cpu_count(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in load_after],
        "machine_busy_percent_of_one_core": round(100 * busy / total * (os.cpu_count() or 1), 1) if total else None,
        "nodes": result_nodes,
        "total_percent_of_one_core": round(sum(n["agent_percent_of_one_core"] + n["database_percent_of_one_core"]
                                               for n in result_nodes.values()), 2),
        "still_healthy": cluster.healthy(nodes),
    }


def table(result: dict) -> str:
    lines = [f"{'node':>4} {'role':<8} {'agent %':>8} {'database %':>11} {'sum %':>7} {'forks/s':>8}"]
    for number, node in result["nodes"].items():
        agent, database = node["agent_percent_of_one_core"], node["database_percent_of_one_core"]
        lines.append(f"{number:>4} {node['role']:<8} {agent:>8.2f} {database:>11.2f} {agent + database:>7.2f}"
                     f" {node['forks_per_second']:>8.2f}")
    load = " ".join(f"{v:.2f}" for v in result["load_average_after"])
    lines.append(f"whole cluster: {result['total_percent_of_one_core']:.2f} % of one core over "
                 f"{result['window_seconds']:.0f} s; machine busy {result['machine_busy_percent_of_one_core']} % "
                 f"of one core ({result['cpus']} CPUs); load average {load} "
                 f"(before: {' '.join(f'{v:.2f}' for v in result['load_average_before'])})")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured once the cluster is healthy")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds left idle after the cluster became healthy, before the window")
    parser.add_argument("--json", default="bench/results/agent_idle.json")
    parser.add_argument("--label", default="", help="recorded in the JSON (e.g. the commit measured)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the agents run PostgreSQL as the postgres user", file=sys.stderr)
        return 2
    if not Path(harness.PG_BIN, "initdb").exists():
        print(f"PostgreSQL 15 not found in {harness.PG_BIN}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="qluster-idle-", dir="/tmp"))
    cluster = bench_cluster(root)
    cluster.prepare()
    try:
        n1, n2, n3 = cluster.nodes
        n1.start()
        wait_for(lambda: cluster.leader([n1]) is n1 and n1.writable(), 90, "node 1 to bootstrap and lead")
        for node in (n2, n3):
            node.start(marker=True)
            wait_for(lambda: cluster.healthy([n for n in cluster.nodes if n.running()]), 120,
                     f"node {node.number} to clone and stream")
        wait_for(lambda: len(n1.query("SELECT 1 FROM pg_stat_replication WHERE sync_state = 'quorum'")) == 2,
                 30, "both replicas in the leader's quorum")
        # Not a wait for a condition: the start-up's own work (the clones' first checkpoints)
        # is left to end before the window opens.
        time.sleep(args.settle)
        result = measure(cluster, args.window)
        result["label"] = args.label
        print(table(result))
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"written to {args.json}")
        return 0 if result["still_healthy"] else 1
    finally:
        cluster.shutdown()
        if os.environ.get("QLUSTER_KEEP_BENCH"):
            print(f"cluster kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
