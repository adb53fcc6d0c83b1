"""How long site.yml takes over SSH (issue 16 item 4): from bare hosts to a streaming cluster with
its pooler, then a second run on the deployed cluster (which should change nothing).

A throwaway lab (qlabr, 10.77.21.0/24) is brought up from the lab image, deployed twice and
removed; the hosts' packages come from this machine's Debian mirror, as on a real first day.
Prints the figures and writes bench/results/site_yml.json.

    .venv/bin/python bench/site_yml.py            # 3 database nodes
    .venv/bin/python bench/site_yml.py --nodes 5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))

from qlab import deploy, lifecycle  # noqa: E402  (after the path above)
from qlab.topology import Lab  # noqa: E402

RESULTS = REPO / "bench" / "results"
THROWAWAY = Lab(name="qlabr", container_prefix="qlabr-", subnet="10.77.21.0/24")


def timed_run(lab: Lab) -> dict:
    """One site.yml run: seconds, exit status and the recap's changed count per host."""
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory_path),
            str(REPO / "site.yml")]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=deploy.ansible_env(), capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    changed = {host: int(count) for host, count in
               re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", proc.stdout, re.M)}
    changed_tasks = sorted({line.split("[", 1)[1].rsplit("]", 1)[0] for line in
                            _changed_task_headings(proc.stdout)})
    return {"seconds": round(took, 1), "exit": proc.returncode, "changed": changed,
            "changed_tasks": changed_tasks, "tail": proc.stdout[-2000:] if proc.returncode else ""}


def _changed_task_headings(output: str) -> list[str]:
    heading, found = "", []
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            heading = line
        elif line.startswith("changed:") and heading:
            found.append(heading)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=3, choices=(3, 5))
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/site_yml.py needs root (rootful podman)", file=sys.stderr)
        return 2
    lab = THROWAWAY.with_nodes(args.nodes)
    lifecycle.down(lab)
    try:
        lifecycle.up(lab)
        load_before = os.getloadavg()
        first = timed_run(lab)
        second = timed_run(lab) if first["exit"] == 0 else None
        load_after = os.getloadavg()
    finally:
        if not args.keep:
            lifecycle.down(lab)
    result = {"nodes": args.nodes, "bare": first, "again": second, "cpus": os.cpu_count(),
              "load_average_1m": [round(load_before[0], 2), round(load_after[0], 2)]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"site_yml-{args.nodes}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"site.yml, {args.nodes} database nodes + 1 NFS/pooler host, over SSH with become:")
    print(f"  from bare hosts: {first['seconds']:.0f} s (exit {first['exit']})")
    if second:
        print(f"  second run:      {second['seconds']:.0f} s (exit {second['exit']}), "
              f"changed {sum(second['changed'].values())}: {', '.join(second['changed_tasks']) or 'nothing'}")
    print(f"  load average (1 min) before/after: {result['load_average_1m']} on {result['cpus']} CPUs")
    print(f"written {out}")
    return 0 if first["exit"] == 0 and second and second["exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
