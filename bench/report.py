"""The benchmark report: runs the project's benchmarks, then writes one JSON file, a Markdown
table and a PNG chart of write availability across a failover.

Benchmarks (each one's own script writes its JSON under bench/results/; this only calls them):
  failover     bench/agent_failover.py: kill -9 of the leader -> first write, and the switchover
               write gap (agent + PostgreSQL 15 on 127.0.0.1-3; binds ports 18181-18183, 16441-16443)
  consensus    bench/consensus_failover.py: consensus-only failover over real multicast
  idle         bench/consensus_idle.py: CPU and memory of an idle 3-node consensus cluster
  pooler       bench/pooler.py --lab LAB: pgbench through the pooler vs direct, failover through it
  bootstrap    bench/site_yml.py (site.yml from bare hosts on a throwaway lab, then again) and
               bench/bootstrap.py (the agent's own bootstrap of 3 fresh nodes)
  availability successful writes per 100 ms in the deployed lab LAB while its leader host is killed
               (the chaos test's writers), drawn as bench/results/availability.png
  chaos        nothing is run: the newest chaos run's JSON (bench/results/chaos*.json, or --chaos FILE;
               written by `python -m qlab.chaos --json ...`) in the table, and the write availability
               across every leader host kill of that run drawn as bench/results/chaos-kill-leader.png

A benchmark whose script is missing, that is not selected, or whose prerequisite is missing
(root, a deployed lab, matplotlib) is reported as skipped with the reason; one that fails is
reported with its exit status. `--reuse` takes an existing result JSON instead of running.

    .venv/bin/python bench/report.py --lab qlab
    .venv/bin/python bench/report.py --only idle,availability --lab qlabt
    .venv/bin/python bench/report.py --reuse --skip bootstrap
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))
RESULTS = REPO / "bench" / "results"
PY = sys.executable
NAMES = ("failover", "consensus", "idle", "pooler", "bootstrap", "availability", "chaos")
PATRONI = {"failover_median_defaults_s": 22.6, "failover_median_tightest_s": 19.1, "switchover_gap_s": 1.41}


def run_script(script: str, args: list[str], timeout: float) -> tuple[bool, str]:
    path = REPO / "bench" / script
    if not path.exists():
        return False, f"skipped: {path.relative_to(REPO)} is not there"
    print(f"\n=== {script} {' '.join(args)}", flush=True)
    try:
        proc = subprocess.run([PY, str(path), *args], cwd=REPO, timeout=timeout, check=False,
                              stderr=subprocess.PIPE, text=True)
    except subprocess.TimeoutExpired:
        return False, f"failed: did not finish within {timeout:.0f} s"
    sys.stderr.write(proc.stderr)
    said = (proc.stderr.strip().splitlines() or [""])[-1]
    if proc.returncode == 2 and said and "error:" not in said:
        # The benchmarks exit 2 when a prerequisite is missing (root, a deployed lab) and say which.
        return False, f"skipped: {said}"
    if proc.returncode != 0:
        return False, f"failed: exit {proc.returncode}" + (f" ({said})" if said else "")
    return True, "ran"


def from_json(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def stats(row: dict | None) -> str:
    if not row:
        return "-"
    return (f"min {row['min']:.2f} s, median {row['median']:.2f} s"
            + (f", p95 {row['p95']:.2f} s" if "p95" in row else "") + f", max {row['max']:.2f} s"
            + (f" ({row['runs']} runs)" if "runs" in row else ""))


# --- each benchmark: run (or reuse) and turn its JSON into table rows --------------------------
def bench_failover(args) -> tuple[str, dict | None, list[tuple[str, str, str]]]:
    json_name = "agent_failover.json"
    status = "reused"
    if not (args.reuse and from_json(json_name)):
        ok, status = run_script("agent_failover.py", ["--failovers", str(args.failovers), "--switchovers",
                                str(args.switchovers), "--json", str(RESULTS / json_name)], 3600)
        if not ok:
            return status, None, []
    data = from_json(json_name)
    command = "bench/agent_failover.py"
    rows = [("agent + PostgreSQL 15: kill -9 of the leader -> first write (multi-host string)",
             stats(data.get("failover_kill_to_first_write_s")), command),
            ("agent + PostgreSQL 15: switchover write gap", stats(data.get("switchover_write_gap_s")), command)]
    return status, data, rows


def bench_consensus(args):
    json_name = "consensus_failover.json"
    status = "reused"
    if not (args.reuse and from_json(json_name)):
        ok, status = run_script("consensus_failover.py", ["--runs", str(args.consensus_runs), "--json",
                                str(RESULTS / json_name)], 1800)
        if not ok:
            return status, None, []
    data = from_json(json_name)
    return status, data, [("3 consensus-only nodes over multicast: leader SIGKILLed -> new leader known",
                           stats(data.get("seconds")), "bench/consensus_failover.py")]


def bench_idle(args):
    json_name = "consensus_idle.json"
    status = "reused"
    if not (args.reuse and from_json(json_name)):
        ok, status = run_script("consensus_idle.py", ["--seconds", str(args.idle_seconds), "--json",
                                str(RESULTS / json_name)], args.idle_seconds + 300)
        if not ok:
            return status, None, []
    data = from_json(json_name)
    nodes = data.get("nodes", {}).values()
    cpu = [n["cpu_percent_of_one_core"] for n in nodes]
    rss = [n["rss_mib"] for n in nodes]
    text = (f"{min(cpu):.1f}-{max(cpu):.1f} % of one core, {max(rss):.0f} MiB RSS per node over "
            f"{data.get('window_seconds', 0):.0f} s") if cpu else "-"
    return status, data, [("idle 3-node consensus cluster", text, "bench/consensus_idle.py")]


def bench_pooler(args):
    json_name = "pooler.json"
    status = "reused"
    if not (args.reuse and from_json(json_name)):
        if not (REPO / "bench" / "pooler.py").exists():
            return "skipped: bench/pooler.py is not there", None, []
        extra = ["--fast"] if args.fast else []
        ok, status = run_script("pooler.py", ["--lab", args.lab, "--failovers", str(args.pooler_failovers),
                                "--json", str(RESULTS / json_name), *extra], 3600)
        if not ok:
            return status, None, []
    data = from_json(json_name)
    rows = []
    for row in data.get("throughput", []):
        rows.append((f"pgbench {row['mode']}, {row['clients']} clients: pooler / direct",
                     f"{row['pooler_tps']:.0f} / {row['direct_tps']:.0f} tps (ratio {row['ratio']:.2f})",
                     "bench/pooler.py"))
    if data.get("failover"):
        rows.append(("leader host killed -> first write through the pooler", stats(data["failover"]),
                     "bench/pooler.py"))
    return status, data, rows


def bench_bootstrap(args):
    """site.yml from bare hosts and a second run (bench/site_yml.py), and the agent's own
    bootstrap of 3 fresh nodes (bench/bootstrap.py, on 127.0.0.x)."""
    rows, data = [], {}
    for script, script_args, json_name in (("site_yml.py", [], "site_yml-3.json"),
                                           ("bootstrap.py", ["--runs", "5"], "bootstrap.json")):
        if not args.reuse:
            ok, said = run_script(script, script_args, timeout=3600)
            if not ok:
                rows.append((f"bench/{script}", said, f"bench/{script}"))
                continue
        found = from_json(json_name)
        if found:
            data[json_name] = found
    site = data.get("site_yml-3.json")
    if site and site.get("again"):
        rows.append(("site.yml over SSH: bare hosts -> streaming cluster with pooler / second run",
                     f"{site['bare']['seconds']:.0f} s / {site['again']['seconds']:.0f} s, changed "
                     f"{sum(site['again']['changed'].values())} (load {site['load_average_1m']})",
                     "bench/site_yml.py"))
    boot = data.get("bootstrap.json")
    if boot:
        agent = boot["systems"]["agent"]
        rows.append(("agent bootstrap of 3 fresh nodes: start -> writable primary / -> + 2 streaming",
                     f"{stats(agent['start_to_writable_s'])} / {stats(agent['start_to_streaming_s'])}",
                     "bench/bootstrap.py"))
    return ("ran" if data else "failed: no result"), data or None, rows


def bench_availability(args):
    try:
        import matplotlib
    except ImportError:
        return "skipped: matplotlib is not installed (requirements-dev.txt)", None, []
    from qlab.chaos import availability
    from qlab.topology import lab_by_name

    png = RESULTS / "availability.png"
    status = "reused"
    data = from_json("availability.json") if args.reuse else None
    if data is None:
        data = availability.measure(lab_by_name(args.lab), before_s=args.window, after_s=args.window)
        if data is None:
            return f"skipped: lab {args.lab} has no available cluster (deploy it first)", None, []
        (RESULTS / "availability.json").write_text(json.dumps(data, indent=1) + "\n")
        status = "ran"
    matplotlib.use("Agg")
    availability.chart(data, png)
    gap = data["gap_s"]
    row = (f"write availability across a leader host kill ({data['lab']}, chart: bench/results/availability.png)",
           f"no successful write for {gap:.2f} s" if gap is not None else "writes did not resume",
           "bench/report.py --only availability")
    return status, data, [row]


def newest_chaos_json() -> Path | None:
    found = sorted(RESULTS.glob("chaos*.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def bench_chaos(args):
    path = Path(args.chaos) if args.chaos else newest_chaos_json()
    if path is None:
        return "skipped: no bench/results/chaos*.json (run `python -m qlab.chaos --json ...` first)", None, []
    if not path.exists():
        return f"failed: --chaos {path} does not exist", None, []
    data = json.loads(path.read_text())
    if "by_kind" not in data:
        return f"skipped: {path.name} predates the per-kind figures (run the chaos test again)", None, []
    command = f"python -m qlab.chaos --events {len(data['events'])} --seed {data['seed']} --lab {data['lab']}"
    split = len(data.get("probes", {}).get("split_brain", []))
    total = data.get("total", {})
    load = data.get("load_average_1m") or {}
    rows = [(f"chaos run ({path.name}): {len(data['events'])} faults, {data['duration_s'] / 60:.0f} min, "
             f"load average {load.get('mean', 0):.0f} (max {load.get('max', 0):.0f}) on {data.get('cpus')} CPUs",
             f"{'PASS' if data['ok'] else 'FAIL'}: {data['insert']['acknowledged']} inserts and "
             f"{data['transfer']['acknowledged']} transfers acknowledged, "
             f"{len(data['insert']['lost']) + len(data['transfer']['lost'])} lost; {split} split-brain windows; "
             f"total {total.get('actual')} (expected {total.get('expected')})", command)]
    for kind, row in data["by_kind"].items():
        rows.append((f"chaos: {kind}, {row['applied']} applied: time until the cluster was available again",
                     stats(row["available_after_s"]), command))
        rows.append((f"chaos: {kind}: longest stretch without an acknowledged write", stats(row["write_gap_s"]), command))
    try:
        import matplotlib
    except ImportError:
        return "reused (no chart: matplotlib is not installed)", data, rows
    from qlab.chaos import availability

    matplotlib.use("Agg")
    png = RESULTS / "chaos-kill-leader.png"
    drawn = availability.chaos_chart(data, png)
    if drawn:
        rows.append((f"write availability across {drawn} leader host kills (chart: bench/results/{png.name})",
                     "see the chart", command))
    # The run's own JSON keeps every event and every unknown write; the report names it instead.
    slim = {k: v for k, v in data.items() if k not in ("events", "unknown_writes")}
    return "reused", {**slim, "json": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)}, rows


BENCHES = {"failover": bench_failover, "consensus": bench_consensus, "idle": bench_idle,
           "pooler": bench_pooler, "bootstrap": bench_bootstrap, "availability": bench_availability,
           "chaos": bench_chaos}


def markdown(rows: list[tuple[str, str, str]], statuses: dict[str, str]) -> str:
    lines = ["| what | result | command |", "|---|---|---|"]
    lines += [f"| {what} | {result} | `{command}` |" for what, result, command in rows]
    lines.append(f"| Patroni + etcd, same kind of machine | failover median {PATRONI['failover_median_defaults_s']} s "
                 f"(defaults), {PATRONI['failover_median_tightest_s']} s (tightest timing); switchover gap "
                 f"{PATRONI['switchover_gap_s']} s | — |")
    lines += ["", "| benchmark | status |", "|---|---|"]
    lines += [f"| {name} | {status} |" for name, status in statuses.items()]
    return "\n".join(lines) + "\n"


def selection(text: str | None, what: str) -> set[str]:
    chosen = {n.strip() for n in (text or "").split(",") if n.strip()}
    unknown = chosen - set(NAMES)
    if unknown:
        raise SystemExit(f"report.py: unknown benchmark(s) in {what}: {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(NAMES)}")
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(NAMES)}")
    parser.add_argument("--skip", help="comma-separated benchmarks not to run")
    parser.add_argument("--reuse", action="store_true", help="use existing result JSON instead of running")
    parser.add_argument("--lab", default="qlab", help="the deployed lab for pooler and availability")
    parser.add_argument("--failovers", type=int, default=10)
    parser.add_argument("--switchovers", type=int, default=10)
    parser.add_argument("--consensus-runs", type=int, default=50)
    parser.add_argument("--idle-seconds", type=int, default=60)
    parser.add_argument("--pooler-failovers", type=int, default=5)
    parser.add_argument("--fast", action="store_true", help="bench/pooler.py --fast")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of writes before and after the kill")
    parser.add_argument("--chaos", help="the chaos run's JSON for the table (default: the newest bench/results/chaos*.json)")
    parser.add_argument("--out", default=str(RESULTS / "report"), help="path without suffix for .json and .md")
    args = parser.parse_args()
    only, skip = selection(args.only, "--only"), selection(args.skip, "--skip")
    RESULTS.mkdir(parents=True, exist_ok=True)
    statuses: dict[str, str] = {}
    results: dict[str, dict | None] = {}
    rows: list[tuple[str, str, str]] = []
    for name in NAMES:
        if (only and name not in only) or name in skip:
            statuses[name] = "skipped: not selected"
            continue
        needs_root = name in ("failover", "consensus", "pooler", "bootstrap", "availability")
        if needs_root and os.geteuid() != 0 and not (args.reuse and name != "availability"):
            statuses[name] = "skipped: needs root"
            continue
        status, data, bench_rows = BENCHES[name](args)
        statuses[name], results[name] = status, data
        rows += bench_rows
        print(f"--- {name}: {status}", flush=True)
    report = {"generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load_average_1m": os.getloadavg()[0],
              "statuses": statuses, "results": results, "patroni": PATRONI,
              "table": [{"what": w, "result": r, "command": c} for w, r, c in rows]}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(rows, statuses))
    print("\n" + markdown(rows, statuses))
    print(f"written {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0 if not any(s.startswith("failed") for s in statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
