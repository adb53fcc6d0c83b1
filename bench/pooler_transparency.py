"""What applications see through the pooler during switchovers and leader host kills.

Writers on this machine (the operator's, on the lab's LAN) connect to the pooler host's
PgBouncer as the lab's application role over TLS, one group per entry:

- `session`: the session-pooled name (the application's database, the default entry);
- `tx`: the transaction-pooled name `<database>_tx` (roles/qcp_host qcp_host_transaction_databases).

Each writer runs one short transaction after another (INSERT of a unique id, COMMIT) on one
connection, and reconnects after an error. Each acknowledged id is kept; at the end every one
must be in the table (lost must be 0). Per event (a switchover through `qlusterctl switchover`
on the leader's host, `podman kill` of the leader's host, or the leader's host cut off the network)
and per entry it reports:

- client errors: failed statements or commits, and failed connection attempts (apart);
- for a kill, the failed transactions that began after the kill and the latest such beginning:
  with the failover hold only those in flight at the kill, or begun before the pooler host's
  observer missed the leader (half a lease, about 0.25 s), may fail;
- the longest stall: the longest a writer waited for one transaction (attempt to
  acknowledgement, retries included) in the event's window.

With two pooler hosts (`qlab up --poolers 2`) the writers connect to the pooler hosts' virtual IP
instead, and `--pooler-kills N` also kills the VIP's holder N times (`podman kill`, then starts it
again): the event's window runs until every writer has committed through the VIP again on its new
holder (issue 18's acceptance: writes resume within 5 s).

Run against a deployed lab with the transaction-pooled names on (the lab's inventory has them):

    .venv/bin/python bench/pooler_transparency.py --lab qlab --switchovers 5 --kills 3 --partitions 3
    .venv/bin/python bench/pooler_transparency.py --lab qlab --switchovers 0 --kills 0 --pooler-kills 5

Figures depend on the machine's load (every lab host shares its CPUs): the 1-minute load
average is sampled and reported with them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from labbench import healthy, leader_of
from pooler import LoadSampler
from qlab import lifecycle
from qlab.agent_api import read_map
from qlab.faults import Host, keep_if, wait_until
from qlab.topology import lab_by_name
from qlab.writers import ENTRIES, Writers, missing, prepare_table, window_figures

# After an event the cluster is whole again; the window then stays open until every writer has
# committed once more (or this long), so a stall that ends after the map healed is counted.
SETTLE_TIMEOUT = 60.0


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.lab = lab_by_name(args.lab)
        self.args = args
        self.hosts = {name: Host(self.lab, name) for name in (*self.lab.db_hostnames, *self.lab.pooler_hostnames)}
        self.addresses = {name: host.address for name, host in self.hosts.items()}
        # Where the writers connect: the VIP of two pooler hosts, else the one pooler host.
        self.pooler = self.lab.pooler_address
        self.fault_at: float | None = None  # when the event killed the leader's host

    def read_map(self) -> dict | None:
        """The map from the first agent that answers: the pooler hosts' observers, then the nodes
        (any of them may be down; the VIP carries PgBouncer, not the agents' API)."""
        for name in (*self.lab.pooler_hostnames, *self.lab.db_hostnames):
            found = read_map(self.addresses[name])
            if found:
                return found
        return None

    def cluster(self) -> dict:
        return wait_until(lambda: keep_if(self.read_map(), healthy), 300, 0.2, "a healthy cluster")

    def new_leader(self, old: dict) -> None:
        wait_until(lambda: keep_if(self.read_map(), lambda m: m and m.get("leader") not in (None, old["id"])),
                   120, 0.1, "a new leader")

    def switchover(self) -> str:
        cluster = self.cluster()
        leader = leader_of(cluster)
        target = next(m for m in cluster["members"] if m["voter"] and m["id"] != leader["id"] and m["streaming"])
        self.hosts[leader["name"]].exec("qlusterctl", "switchover", "--to", target["name"], "--force",
                                        "--timeout", "60", timeout=90)
        return f"switchover {leader['name']} -> {target['name']}"

    def kill(self) -> str:
        leader = leader_of(self.cluster())
        host = self.hosts[leader["name"]]
        self.fault_at = time.monotonic()
        host.kill()
        try:
            self.new_leader(leader)
        finally:
            host.start()
        return f"kill {leader['name']}"

    def partition(self) -> str:
        """The leader's host cut off the network: silent, as a power cut or a pulled cable looks
        from outside (a `podman kill` resets its connections at once instead)."""
        leader = leader_of(self.cluster())
        host = self.hosts[leader["name"]]
        self.fault_at = time.monotonic()
        host.partition()
        try:
            self.new_leader(leader)
        finally:
            host.heal()
        return f"partition {leader['name']}"

    def pooler_kill(self) -> str:
        """`podman kill` of the pooler host holding the VIP; back once another holds it."""
        old = wait_until(lambda: lifecycle.vip_holder(self.lab), 60, 0.2, f"a holder of {self.lab.vip}")
        host = self.hosts[old]
        killed = time.monotonic()
        host.kill()
        try:
            new = wait_until(lambda: keep_if(lifecycle.vip_holder(self.lab), lambda h: h not in (None, old)),
                             60, 0.1, f"{self.lab.vip} on another pooler host")
            moved = time.monotonic() - killed
        finally:
            host.start()
        wait_until(lambda: host.exec("systemctl", "is-active", "keepalived", check=False).stdout.strip() == "active",
                   120, 0.5, f"keepalived on {old} again")
        return f"pooler kill {old} -> VIP on {new} after {moved:.2f} s"

    def event(self, writers: Writers, kind: str) -> dict:
        start = time.monotonic()
        self.fault_at = None
        what = {"switchover": self.switchover, "kill": self.kill, "partition": self.partition,
                "pooler_kill": self.pooler_kill}[kind]()
        self.cluster()
        healed = time.monotonic()
        wait_until(lambda: writers.committed_since(healed), SETTLE_TIMEOUT, 0.1, "every writer committing again")
        figures = window_figures(writers.all, start, time.monotonic(), self.fault_at)
        print(f"{what}: " + "  ".join(f"{entry} failed {f['failed_transactions']}{after_fault(f)} connect errors "
                                      f"{f['connect_errors']} longest stall {f['longest_stall_s']:.2f} s"
                                      for entry, f in figures.items()), flush=True)
        return {"event": kind, "what": what, "took_s": round(healed - start, 2), **figures}

    def run(self) -> dict:
        self.cluster()
        prepare_table(self.pooler, self.lab.ca_path)
        load = LoadSampler().start()
        writers = Writers(self.pooler, self.lab.ca_path, self.args.clients).start()
        try:
            wait_until(lambda: writers.committed_since(0.0), 60, 0.1, "every writer's first commit")
            events = [self.event(writers, kind)
                      for kind in (["switchover"] * self.args.switchovers + ["kill"] * self.args.kills
                                   + ["partition"] * self.args.partitions + ["pooler_kill"] * self.args.pooler_kills)]
        finally:
            writers.stop()
        lost = missing(self.pooler, self.lab.ca_path, writers.all)
        summary = {entry: {kind: summarize([e[entry] for e in events if e["event"] == kind])
                           for kind in ("switchover", "kill", "partition", "pooler_kill")} for entry in ENTRIES}
        return {"lab": self.lab.name, "pooler": self.pooler, "vip": bool(self.lab.vip),
                "clients_per_entry": self.args.clients, "events": events,
                "summary": summary, "acknowledged": writers.acknowledged(), "lost": len(lost), "load": load.stop()}


def after_fault(figures: dict) -> str:
    if "failed_begun_after_fault" not in figures:
        return ""
    latest = figures["latest_failed_begin_after_fault_s"]
    return f" ({figures['failed_begun_after_fault']} begun after the fault, the latest +{latest or 0:.2f} s)"


def summarize(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    stalls = [r["longest_stall_s"] for r in rows]
    summary = {"events": len(rows), "with_errors": sum(1 for r in rows if r["errors"]),
               "errors": sum(r["errors"] for r in rows), "connect_errors": sum(r["connect_errors"] for r in rows),
               "failed_transactions": sum(r["failed_transactions"] for r in rows),
               "stall_median_s": round(statistics.median(stalls), 3), "stall_max_s": max(stalls)}
    if all("failed_begun_after_fault" in r for r in rows):
        latest = [r["latest_failed_begin_after_fault_s"] for r in rows if r["latest_failed_begin_after_fault_s"] is not None]
        summary["failed_begun_after_fault"] = sum(r["failed_begun_after_fault"] for r in rows)
        summary["latest_failed_begin_after_fault_s"] = max(latest, default=None)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--lab", default="qlab")
    parser.add_argument("--clients", type=int, default=4, help="writers per entry")
    parser.add_argument("--switchovers", type=int, default=5)
    parser.add_argument("--kills", type=int, default=3, help="`podman kill` of the leader's host (its connections reset)")
    parser.add_argument("--partitions", type=int, default=0, help="the leader's host cut off the network (silent)")
    parser.add_argument("--pooler-kills", type=int, default=0,
                        help="kills of the pooler host holding the VIP (a lab with 2 pooler hosts: qlab up --poolers 2)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "pooler_transparency.json")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root (podman)", file=sys.stderr)
        return 2
    bench = Bench(args)
    if args.pooler_kills and not bench.lab.vip:
        print(f"--pooler-kills needs a lab with two pooler hosts and their VIP: `qlab --lab {args.lab} up --poolers 2` "
              f"(lab {args.lab} has {bench.lab.poolers})", file=sys.stderr)
        return 2
    result = bench.run()
    print(json.dumps(result["summary"], indent=2))
    print(f"acknowledged {result['acknowledged']}, lost {result['lost']}; load (1 min) "
          f"{result['load']['min']:.1f}/{result['load']['median']:.1f}/{result['load']['max']:.1f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
