"""CPU and memory of an idle 3-node consensus cluster: the cost of heartbeats, hellos and ticks.

Three consensus-only node processes (the agent's tests/consensus_net/node.py, default timing
profile, tick 50 ms, the seed's udp defaults) in network namespaces on 10.77.200.0/24 over real
multicast. Once they agree on a leader, each process's user+system CPU time (/proc/<pid>/stat) is
read at the start and the end of the window, and its resident memory (/proc/<pid>/status: VmRSS,
and the peak VmHWM) at the end. The nodes write their status file only on change or every
--status-interval, so the lab's own reporting costs next to nothing. Prints a table and writes
JSON. Run as root:

    .venv/bin/python bench/consensus_idle.py --seconds 60 --json bench/results/consensus_idle.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "files" / "qluster_agent"))
from tests.consensus_net.cluster import ConsensusCluster  # noqa: E402
from tests.netns import NetLab, unavailable_reason  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stream:
        # After "pid (comm)", whose comm may hold spaces: fields[0] is field 3, so utime (14)
        # and stime (15) are fields[11] and fields[12].
        fields = stream.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (resident peak) in KiB."""
    memory = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as stream:
        for line in stream:
            name, _sep, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                memory[name] = int(value.split()[0])
    return memory


def measure(cluster: ConsensusCluster, seconds: float) -> dict:
    leader, term = cluster.wait_agreed(cluster.hosts)
    pids = {node: cluster.pid(node) for node in cluster.hosts}
    started = time.monotonic()
    cpu_before = {node: cpu_seconds(pid) for node, pid in pids.items()}
    time.sleep(seconds)  # the measurement window itself, not a wait for anything
    cpu_after = {node: cpu_seconds(pid) for node, pid in pids.items()}
    elapsed = time.monotonic() - started
    still = cluster.agreed(cluster.hosts)
    nodes = {}
    for node, pid in pids.items():
        memory = memory_kib(pid)
        used = cpu_after[node] - cpu_before[node]
        nodes[node] = {"role": "leader" if node == leader else "follower", "cpu_seconds": round(used, 3),
                       "cpu_percent_of_one_core": round(100 * used / elapsed, 2),
                       "rss_mib": round(memory["VmRSS"] / 1024, 1), "peak_rss_mib": round(memory["VmHWM"] / 1024, 1)}
    return {"window_seconds": round(elapsed, 3), "leader": leader, "term": term,
            "same_leader_and_term_at_the_end": still == (leader, term), "nodes": nodes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--status-interval", type=float, default=5.0)
    parser.add_argument("--json", default="bench/results/consensus_idle.json")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="consensus-idle-") as workdir, NetLab() as lab, \
            ConsensusCluster(lab, Path(workdir), 3, status_interval=args.status_interval) as cluster:
        cluster.start_all()
        result = measure(cluster, args.seconds)
    result.update(tick_interval=0.05, status_interval=args.status_interval, loadavg_before=load_before,
                  loadavg_after=os.getloadavg(), cpus=os.cpu_count())
    print(f"idle 3-node cluster over {result['window_seconds']:.1f} s "
          f"(leader node {result['leader']}, unchanged: {result['same_leader_and_term_at_the_end']}):")
    for node, figures in result["nodes"].items():
        print(f"  node {node} {figures['role']:8s} CPU {figures['cpu_seconds']:6.2f} s "
              f"({figures['cpu_percent_of_one_core']:5.2f} % of one core)  RSS {figures['rss_mib']:5.1f} MiB "
              f"(peak {figures['peak_rss_mib']:5.1f} MiB)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
