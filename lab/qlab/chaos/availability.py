"""Write availability across a failover: the chaos test's writers, the leader's host killed,
successful writes per 100 ms over time (bench/report.py draws it)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from ..faults import wait_until
from ..topology import Lab
from .cluster import Cluster, available, converged
from .clients import Clients
from .run import prepare
from .timeline import is_applied

BUCKET_S = 0.1


def measure(lab: Lab, before_s: float = 10.0, after_s: float = 10.0) -> dict | None:
    """None when the lab has no available cluster. Times in the result are relative to the kill."""
    cluster = Cluster.of(lab)
    if not available(cluster.freshest_map()):
        return None
    run_id = f"avail{int(time.time())}"
    log_dir = lab.state_dir / "chaos" / run_id
    log_dir.mkdir(parents=True, exist_ok=True)
    prepare(cluster, run_id)
    password = cluster.nodes[0].exec("cat", "/etc/qluster/db-password").stdout.strip()
    clients = Clients(cluster, run_id, password, seed=0, log_dir=log_dir, interval=0.01).start()
    victim = None
    try:
        wait_until(lambda: clients.writes.ids("insert", "ok"), 60, 0.2, "a first write")
        time.sleep(before_s)  # the steady state before the kill is part of the picture
        victim = cluster.leader()
        killed = time.time()
        cluster.hosts[victim].kill()
        wait_until(lambda: any(r["r"] == "ok" and r["t0"] > killed for r in clients.writes.snapshot()),
                   300, 0.1, "a write after the kill")
        time.sleep(after_s)
    finally:
        clients.stop()
        if victim and not cluster.hosts[victim].is_running():
            cluster.hosts[victim].start()
    records = clients.writes.snapshot()
    ok = sorted(r["t1"] for r in records if r["r"] == "ok")
    before = [t for t in ok if t < killed]
    after = [t for t in ok if t > killed]
    first_after = min(after) if after else None
    last_before = max(before) if before else None
    start, end = (ok[0], ok[-1]) if ok else (killed, killed)
    buckets = int((end - start) / BUCKET_S) + 1
    series = {}
    for path in clients.paths:
        counts = [0] * buckets
        for r in records:
            if r["r"] == "ok" and r["c"].endswith(path):
                counts[min(buckets - 1, int((r["t1"] - start) / BUCKET_S))] += 1
        series[path] = counts
    try:
        wait_until(lambda: converged(cluster.freshest_map()), 600, 2.0, "the cluster whole again")
        whole = True
    except TimeoutError:
        whole = False
    return {
        "lab": lab.name, "killed": victim, "bucket_s": BUCKET_S, "t_start_rel": start - killed,
        "series": series, "first_write_after_kill_s": first_after - killed if first_after else None,
        "gap_s": first_after - last_before if first_after and last_before else None,
        "outcomes": clients.writes.counts(), "cluster_whole_again": whole,
    }


def chart(data: dict, png: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    for path, counts in data["series"].items():
        xs = [data["t_start_rel"] + i * data["bucket_s"] for i in range(len(counts))]
        ax.step(xs, counts, where="post", label=f"{path}", linewidth=1)
    ax.axvline(0, color="red", linestyle="--", label=f"leader host {data['killed']} killed")
    if data["first_write_after_kill_s"] is not None:
        ax.axvline(data["first_write_after_kill_s"], color="green", linestyle=":",
                   label=f"first write after: +{data['first_write_after_kill_s']:.2f} s")
    ax.set_xlabel("seconds from the kill")
    ax.set_ylabel(f"successful writes per {int(data['bucket_s'] * 1000)} ms")
    ax.set_title("Write availability across a failover (podman kill of the leader's host)")
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def chaos_chart(result: dict, png: Path, kind: str = "kill-leader", bin_s: float = 0.5) -> int:
    """Write availability across every fault of one kind in a chaos run (its events' `series`):
    each fault a thin line, their median a thick one. The number of faults drawn."""
    import matplotlib.pyplot as plt

    events = [e for e in result["events"] if e["kind"] == kind and e.get("series") and is_applied(e)]
    if not events:
        return 0
    fine = events[0]["series"]["bucket_s"]
    start = events[0]["series"]["from_s"]
    per = max(1, int(round(bin_s / fine)))  # 100 ms buckets drawn as wider bins, in writes per second
    bucket = fine * per
    totals = []
    for event in events:
        counts = event["series"]["counts"]
        length = max(len(c) for c in counts.values())
        total = [sum(c[i] for c in counts.values() if i < len(c)) for i in range(length)]
        totals.append([sum(total[i:i + per]) / bucket for i in range(0, len(total) - per + 1, per)])
    # The median where at least half of the faults still have data (a series ends at the next fault).
    length = max(i for i in range(1, max(len(t) for t in totals) + 1)
                 if 2 * sum(len(t) >= i for t in totals) >= len(totals))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for total in totals:
        ax.plot([start + i * bucket for i in range(len(total))], total, color="tab:blue", alpha=0.15, linewidth=0.7)
    median = [statistics.median(t[i] for t in totals if i < len(t)) for i in range(length)]
    ax.plot([start + i * bucket for i in range(length)], median, color="tab:blue", linewidth=2,
            label=f"median of {len(events)} faults")
    ax.axvline(0, color="red", linestyle="--", label=f"fault: {kind}")
    gaps = [e["write_gap_s"] for e in events if e.get("write_gap_s") is not None]
    if gaps:
        ax.axvline(statistics.median(gaps), color="green", linestyle=":",
                   label=f"median longest write outage {statistics.median(gaps):.1f} s")
    ax.set_xlabel("seconds from the fault")
    ax.set_ylabel(f"acknowledged writes per second ({bucket:.1f} s bins, all writers)")
    load = result.get("load_average_1m") or {}
    ax.set_title(f"Write availability across {kind} (chaos run {result['run']}, "
                 f"load average {load.get('mean', 0):.0f} on {result.get('cpus')} CPUs)")
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return len(events)
