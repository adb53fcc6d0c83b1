"""The pooler host (qcp_host) in a deployed lab: pgbench through the pooler vs directly against
the leader, and the time from killing the leader's host to the first write through the pooler.

pgbench runs inside a follower's host for both paths (the database nodes accept connections only
from the cluster's hosts): directly to the leader's port 5432, and to PgBouncer on the pooler
host (port 5432), which goes on through HAProxy's read-write route. Select-only (-S) and
tpcb-like, at several client counts; each figure is the tps without the initial connection
time, and the ratio is pooler / direct (goal: >= 0.9 for select-only at 16 clients).

Failover: a writer on this machine connects through the pooler and inserts one row per attempt;
the leader's host is killed (`podman kill`, as qlab's Host.kill); the time to the first
successful write is recorded, the host started again and the cluster waited on until whole.
Median over the repetitions (goal: <= 4 s). `--fast` first sets the agents' runtime settings to
their LAN defaults (node-timeout 800ms, heartbeat 100ms, 400ms for pre-vote and vote) and sets the
previous ones back at the end; without it the cluster's own settings are measured (the seed's
example values take 30 s to notice a dead leader).

Each pgbench run also records where its CPU time went (bench/cpu_account.py): microseconds per
transaction spent by each lab host's processes and, per CPU, in user, system and softirq (the
veth and bridge work) time, so a ratio below 1 can be traced to the host or CPU that paid for it.

All machines of the lab share this host's CPUs, so the ratios carry the pooler's CPU cost too,
and every figure depends on what else runs: the load average is sampled every 5 s during the run
and reported (min/median/max), and the run waits (up to --wait-load minutes) until the 1-minute
load is at most --max-load before it starts. Run as root against a deployed lab (`qlab deploy`
with the cluster started):

    .venv/bin/python bench/pooler.py --lab qlabt --duration 20 --failovers 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import threading
import time
from pathlib import Path

from cpu_account import CpuAccount
from labbench import healthy, leader_of, measure_failovers, read_map
from qlab.faults import Host
from qlab.podman import podman
from qlab.topology import DB_HOSTS, NFS_HOST, lab_by_name

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
FAST = {"node-timeout": "800ms", "heartbeat-interval": "100ms", "pre-voting-timeout": "400ms",
        "leader-voting-timeout": "400ms"}


def run_pgbench(client: Host, password: str, address: str, args: list[str], timeout: float) -> str:
    proc = client.exec("env", f"PGPASSWORD={password}", PGBENCH, "-h", address, "-p", "5432", "-U", "qhb", *args,
                       "postgres", timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(args)} against {address} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def pgbench(client: Host, password: str, address: str, args: list[str], timeout: float) -> tuple[float, int]:
    """One measured run: its tps without the initial connection time, and its transactions."""
    output = run_pgbench(client, password, address, args, timeout)
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output)
    done = re.search(r"number of transactions actually processed: ([0-9]+)", output)
    if not tps or not done:
        raise RuntimeError(f"pgbench {' '.join(args)} against {address} printed no tps: {output.strip()[-500:]}")
    return float(tps.group(1)), int(done.group(1))


class LoadSampler:
    """The 1-minute load average every `every` seconds, in a thread, until stopped."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self.every):
                return

    def start(self) -> "LoadSampler":
        self._thread.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {"samples": len(self.samples), "min": min(self.samples), "median": statistics.median(self.samples),
                "max": max(self.samples)}


class CpuPinning:
    """The pooler host on its own CPU, the database hosts on the others (`--pin`).

    In a deployment the pooler host is its own machine. On one machine its PgBouncer and HAProxy
    take CPU from the very database and pgbench they stand between, so an unpinned ratio
    measures the proxies' CPU cost on a shared machine as much as their added latency.
    """

    def __init__(self, hosts: dict[str, Host]) -> None:
        self.hosts = hosts
        self.cpus = os.cpu_count() or 1

    def __enter__(self) -> "CpuPinning":
        if self.cpus < 2:
            raise RuntimeError("--pin needs at least 2 CPUs")
        last = self.cpus - 1
        for name, host in self.hosts.items():
            cpus = str(last) if name == NFS_HOST else (f"0-{last - 1}" if last > 1 else "0")
            podman("update", "--cpuset-cpus", cpus, host.container)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for host in self.hosts.values():
            podman("update", "--cpuset-cpus", f"0-{self.cpus - 1}", host.container, check=False)


def wait_for_quiet(max_load: float, minutes: float) -> bool:
    deadline = time.monotonic() + minutes * 60
    while os.getloadavg()[0] > max_load:
        if time.monotonic() >= deadline:
            return False
        print(f"load average {os.getloadavg()[0]:.1f} > {max_load}: waiting", flush=True)
        time.sleep(30)
    return True


def refusal_to_measure(max_load: float, wait_minutes: float) -> int | None:
    """The exit status when this machine cannot measure now (not root, or too loaded); None: go on."""
    if os.geteuid() != 0:
        print("run as root: the lab is rootful podman", file=sys.stderr)
        return 2
    if not wait_for_quiet(max_load, wait_minutes):
        print(f"the load average stayed above {max_load} for {wait_minutes} minutes: not measuring",
              file=sys.stderr)
        return 3
    return None


def set_config(leader: Host, settings: dict) -> None:
    pairs = [f"{key}={value}" for key, value in settings.items()]
    leader.exec("/usr/local/bin/qlusterctl", "config", "set", *pairs)


MODES = {"select-only": ["-S"], "tpcb-like": []}


def accounted_pgbench(account: CpuAccount, client: Host, password: str, address: str,
                      args: list[str], timeout: float) -> tuple[float, dict]:
    """A pgbench run and where its CPU time went (bench/cpu_account.py)."""
    with account:
        tps, transactions = pgbench(client, password, address, args, timeout)
    return tps, account.report(transactions)


def print_cpu(path: str, cpu: dict, roles: dict[str, str]) -> None:
    hosts = ", ".join(f"{name}{roles.get(name, '')} {us:.0f}" for name, us in cpu["hosts_us_per_tx"].items())
    cpus = "; ".join(f"{name} {c['busy_share']:.0%} busy, user {c['user_us_per_tx']:.0f} system "
                     f"{c['system_us_per_tx']:.0f} softirq {c['softirq_us_per_tx']:.0f}"
                     for name, c in cpu["cpus"].items())
    print(f"    {path:6} CPU us per transaction by host: {hosts}")
    print(f"    {path:6} by CPU: {cpus}")


def measure_throughput(args, hosts: dict[str, Host], roles: dict[str, str], client: Host, password: str,
                       leader: str, pooler: str, results: dict) -> None:
    """pgbench directly against the leader and through the pooler, one after the other, each with
    where its CPU time went (roles: what each host is in the run, for the printout)."""
    roles = {name: f" ({role})" for name, role in roles.items()}
    account = CpuAccount(hosts)  # finds each host's cgroup once; every run below reuses it
    for mode in args.modes.split(","):
        for clients in [int(c) for c in args.clients.split(",") if c.strip()]:
            common = ["-n", "-T", str(args.duration), "-c", str(clients), "-j", str(min(clients, 2)), *MODES[mode]]
            direct, direct_cpu = accounted_pgbench(account, client, password, leader, common, args.duration + 120)
            pooled, pooled_cpu = accounted_pgbench(account, client, password, pooler, common, args.duration + 120)
            row = {"mode": mode, "clients": clients, "direct_tps": direct, "pooler_tps": pooled,
                   "ratio": round(pooled / direct, 3), "direct_cpu": direct_cpu, "pooler_cpu": pooled_cpu}
            results["throughput"].append(row)
            print(f"{mode:12} {clients:3} clients: direct {direct:9.1f} tps, pooler {pooled:9.1f} tps, "
                  f"ratio {row['ratio']:.2f}")
            print_cpu("direct", direct_cpu, roles)
            print_cpu("pooler", pooled_cpu, roles)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="qlab")
    parser.add_argument("--clients", default="1,4,16", help="pgbench client counts; empty: failovers only")
    parser.add_argument("--modes", default=",".join(MODES), help="pgbench modes, comma-separated: " + ", ".join(MODES))
    parser.add_argument("--duration", type=int, default=20, help="seconds per pgbench run")
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--failovers", type=int, default=5)
    parser.add_argument("--pin", action="store_true",
                        help="during the pgbench runs, the pooler host on its own CPU (its own machine in a deployment)")
    parser.add_argument("--fast", action="store_true", help="use the agents' LAN timings during the failovers")
    parser.add_argument("--json", default="bench/results/pooler.json")
    parser.add_argument("--max-load", type=float, default=12.0, help="start only at this 1-minute load or below")
    parser.add_argument("--wait-load", type=float, default=10.0, help="minutes to wait for that load")
    args = parser.parse_args()
    unknown = [mode for mode in args.modes.split(",") if mode not in MODES]
    if unknown:
        parser.error(f"unknown --modes {', '.join(unknown)}: choose from {', '.join(MODES)}")
    refused = refusal_to_measure(args.max_load, args.wait_load)
    if refused is not None:
        return refused
    lab = lab_by_name(args.lab)
    hosts = {h.hostname: Host(lab, h.hostname) for h in lab.hosts}
    pooler = hosts[NFS_HOST].address
    cluster = read_map(pooler)
    if not healthy(cluster):
        print(f"the cluster behind {pooler} is not healthy: deploy it first (qlab deploy with the cluster started)",
              file=sys.stderr)
        return 2
    password = hosts[DB_HOSTS[0]].exec("cat", "/etc/qluster/db-password").stdout.strip()
    leader = leader_of(cluster)
    follower = next(m for m in cluster["members"] if m["role"] == "follower")
    client = hosts[follower["name"]]
    roles = {leader["name"]: "leader", follower["name"]: "pgbench", NFS_HOST: "pooler"}
    load = os.getloadavg()[0]
    print(f"leader {leader['name']} ({leader['address']}), pooler {pooler}, pgbench from {follower['name']}, "
          f"load average {load:.1f}")
    sampler = LoadSampler().start()
    run_pgbench(client, password, leader["address"], ["-i", "-q", "-s", str(args.scale)], timeout=600)

    results: dict = {"lab": lab.name, "load_average_start": load, "duration_s": args.duration, "scale": args.scale,
                     "throughput": [], "failover": None}
    results["pinned"] = args.pin
    with CpuPinning(hosts) if args.pin else contextlib.nullcontext():
        measure_throughput(args, hosts, roles, client, password, leader["address"], pooler, results)
    goal = next((r for r in results["throughput"] if r["mode"] == "select-only" and r["clients"] == 16), None)
    if goal:
        print(f"select-only at 16 clients: ratio {goal['ratio']:.2f} (goal >= 0.9: {'met' if goal['ratio'] >= 0.9 else 'NOT met'})")

    times: list[float] = []
    stalls: list[str] = []
    previous = None
    if args.failovers:
        leader_host = hosts[leader["name"]]
        if args.fast:
            previous = json.loads(leader_host.exec("/usr/local/bin/qlusterctl", "config", "show").stdout)
            set_config(leader_host, FAST)
        try:
            times = measure_failovers(hosts, pooler, password, args.failovers, stalls)
        finally:
            if previous is not None:
                cluster = read_map(pooler)
                if cluster and cluster.get("leader") is not None:
                    set_config(hosts[leader_of(cluster)["name"]], {k: previous[k] for k in FAST if k in previous})
    if times:
        results["failover"] = {"runs": len(times), "fast_timings": args.fast, "min": min(times),
                               "median": statistics.median(times), "max": max(times), "each": times}
        median = results["failover"]["median"]
        print(f"kill -> first write through the pooler: median {median:.2f} s over {len(times)} "
              f"(min {min(times):.2f}, max {max(times):.2f}; goal <= 4 s: {'met' if median <= 4 else 'NOT met'})")
    if stalls:
        results["stalls"] = stalls
        for report in stalls:
            print(report)
    results["load_average_end"] = os.getloadavg()[0]
    results["load_average"] = sampler.stop()
    print("load average during the run: min {min:.1f}, median {median:.1f}, max {max:.1f}".format(**results["load_average"]))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
