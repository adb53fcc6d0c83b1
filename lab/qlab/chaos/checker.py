"""The verdict of a chaos run: after everything is healed and the cluster has converged,
every acknowledged write is present, the transfers kept the total, no two nodes accepted writes
at the same moment, and every node is back (the leader primary, the others streaming)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..faults import wait_until
from . import remote
from .clients import ACCOUNTS, INITIAL_BALANCE, Writes
from .cluster import Cluster, converged, leader_name, voters
from .probes import LOCAL_DSN, Window, leadership, overlaps, timely

CONVERGE_TIMEOUT_S = 600
# The checks of judge() that say no acknowledged write was lost (assert_no_write_lost).
NO_LOSS_CHECKS = ("no lost insert", "no lost transfer", "transfer total unchanged", "balances match the transfers present")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))


def converge(cluster: Cluster, timeout: float = CONVERGE_TIMEOUT_S) -> tuple[dict | None, float | None]:
    """Wait for 3 healthy voters, a primary and two streaming replicas; the map and the wait."""
    started = time.monotonic()

    def converged_map() -> dict | None:
        found = cluster.freshest_map()
        return found if converged(found) else None

    try:
        found = wait_until(converged_map, timeout, 2.0, "a converged cluster")
        return found, time.monotonic() - started
    except TimeoutError:
        return cluster.freshest_map(), None


def dump(cluster: Cluster, leader: str, run_id: str) -> dict:
    """The run's rows, transfers and balances, read on the leader's own database."""
    data: dict = {}
    for record in remote.once(cluster.hosts[leader], ["dump", LOCAL_DSN, run_id], user="qhb", timeout=300):
        data.update(record)
    return data


def judge(writes: Writes, windows: list[Window], data: dict | None, final_map: dict | None,
          converged_after: float | None) -> Verdict:
    """Pure: the checks over what the clients saw, what the probes saw and what the database holds."""
    verdict = Verdict()
    rows = set(data["rows"]) if data else set()
    transfers = {t[0]: t for t in data["transfers"]} if data else {}

    verdict.add("converged", converged_after is not None,
                f"3 healthy voters, 2 streaming, after {converged_after:.0f} s" if converged_after is not None
                else f"not converged within {CONVERGE_TIMEOUT_S} s: {describe(final_map)}")

    for kind, present in (("insert", rows), ("transfer", set(transfers))):
        acked, unknown = writes.ids(kind, "ok"), writes.ids(kind, "unknown")
        lost = sorted(acked - present)
        verdict.facts[kind] = {"acknowledged": len(acked), "lost": lost, "unknown": len(unknown),
                               "unknown_present": len(unknown & present),
                               "failed": len(writes.ids(kind, "failed"))}
        if data is not None:
            verdict.add(f"no lost {kind}", not lost and len(acked) > 0,
                        f"{len(acked)} acknowledged, {len(lost)} missing"
                        + (f" (first: {', '.join(lost[:5])})" if lost else "")
                        + f"; {len(unknown)} unknown outcome, {len(unknown & present)} of them present")

    if data is not None:
        balances = dict(data["balances"])
        total = sum(balances.values())
        expected_total = ACCOUNTS * INITIAL_BALANCE
        expected = {a: INITIAL_BALANCE for a in range(ACCOUNTS)}
        for _ident, src, dst, amount in transfers.values():
            expected[src] -= amount
            expected[dst] += amount
        verdict.facts["total"] = {"expected": expected_total, "actual": total}
        verdict.add("transfer total unchanged", total == expected_total and len(balances) == ACCOUNTS,
                    f"{total} (expected {expected_total}) over {len(balances)} accounts")
        verdict.add("balances match the transfers present", balances == expected,
                    "every balance is the initial one plus the logged transfers" if balances == expected
                    else f"differ: {sorted(set(balances.items()) ^ set(expected.items()))[:6]}")

    judged, late = timely(windows)
    found = overlaps(judged)
    nodes = sorted({w.node for w in judged})
    verdict.facts["probes"] = {"acknowledged": len(windows), "nodes": nodes,
                               "leadership": leadership(judged), "split_brain": [o.as_dict() for o in found],
                               "late": [[w.node, w.start, w.end] for w in late]}
    verdict.add("no split brain", not found and len(judged) > 0,
                f"{len(judged)} acknowledged probes on {', '.join(nodes) or 'no node'}, "
                f"{len(found)} overlapping windows"
                + (f" (first: {found[0].first.node} and {found[0].second.node} for {found[0].seconds:.3f} s)"
                   if found else "")
                + (f"; {len(late)} acknowledged after the probe's deadline (its host was paused"
                   " mid-write: no known moment) set aside" if late else ""))

    verdict.add("every node rejoined streaming", converged_after is not None, describe(final_map))
    return verdict


def assert_no_write_lost(writes: Writes, cluster: Cluster, final_map: dict, run_id: str) -> None:
    """For a lab test that wrote all along a change of the cluster (no probes, no nemesis): judge
    the writers' results against the database of `final_map`'s leader, print the NO_LOSS_CHECKS'
    details, and raise AssertionError at the first of them that failed, or when no insert was
    acknowledged at all. Raised, not asserted: this module is not rewritten by pytest, and must
    not lose its checks under python -O."""
    verdict = judge(writes, [], dump(cluster, leader_name(final_map), run_id), final_map, 0.0)
    results = {check.name: check for check in verdict.checks}
    print({name: results[name].detail for name in NO_LOSS_CHECKS})
    for name in NO_LOSS_CHECKS:
        if not results[name].ok:
            raise AssertionError(f"{name}: {results[name].detail}")
    if not verdict.facts["insert"]["acknowledged"]:
        raise AssertionError("no insert was acknowledged: the writers never reached the cluster")


def describe(cluster: dict | None) -> str:
    if not cluster:
        return "no agent answered with a leader"
    parts = []
    for m in voters(cluster):
        lead = " (leader)" if m["id"] == cluster["leader"] else ""
        streaming = ", streaming" if m.get("streaming") else ""
        parts.append(f"{m['name']}{lead}: {m['state']}, {m.get('db_role')}{streaming}")
    return "; ".join(parts)


def summary(result: dict) -> str:
    lines = [f"chaos run {result['run']} on lab {result['lab']}: seed {result['seed']}, "
             f"{len(result['events'])} events"
             + (f" (of {result['events_planned']} planned; time was up after {result['max_minutes']:g} min)"
                if result.get("events_planned", len(result["events"])) > len(result["events"]) else "")
             + f" in {result['duration_s']:.0f} s, "
             f"paths: {', '.join(result['paths'])}"]
    for event in result["events"]:
        target = f" {event['target']}" if event.get("target") else ""
        back = event.get("available_after_s")
        gap = event.get("write_gap_s")
        lines.append(f"  {event['index']:>3} {event['kind']}{target}: hold {event['hold_s']:.1f} s, "
                     f"available again after {back if back is not None else '-'} s"
                     + (f", longest write outage {gap:.2f} s" if gap is not None else "")
                     + f" {event.get('note', '')}".rstrip())
    for kind, row in result.get("by_kind", {}).items():
        back, gap = row.get("available_after_s"), row.get("write_gap_s")
        lines.append(f"  {kind}: {row['applied']} of {row['events']} applied"
                     + (f"; available again: median {back['median']:.1f} s, max {back['max']:.1f} s" if back else "")
                     + (f"; longest write outage: median {gap['median']:.1f} s, max {gap['max']:.1f} s" if gap else ""))
    for client, counts in result["clients"].items():
        lines.append(f"  client {client}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    load = result.get("load_average_1m")
    if load:
        lines.append(f"  load average (1 min) during the run: mean {load['mean']:.1f}, max {load['max']:.1f} "
                     f"on {result.get('cpus')} CPUs")
    for check in result["checks"]:
        lines.append(f"  [{'ok' if check['ok'] else 'FAIL'}] {check['name']}: {check['detail']}")
    lines.append("RESULT: " + ("PASS" if result["ok"] else "FAIL"))
    return "\n".join(lines)
