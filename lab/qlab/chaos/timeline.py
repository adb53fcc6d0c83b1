"""What the writers saw around each fault, from their records (pure functions).

A record is one write attempt as the writer program reports it: client `c` (named
`<kind>-<path>`), outcome `r`, and its window [t0, t1] in wall-clock seconds. An acknowledged
write counts at t1, the moment its COMMIT returned.
"""

from __future__ import annotations

import statistics

BUCKET_S = 0.1
# Write series are kept for the kinds that take the leader away (the failover's picture).
SERIES_KINDS = ("kill-leader", "pause-leader", "partition-leader", "wipe-leader-pgdata", "restart-all")
SERIES_BEFORE_S = 5.0
SERIES_AFTER_S = 40.0


def path_of(client: str) -> str:
    """`insert-direct` -> `direct`."""
    return client.rsplit("-", 1)[-1]


def acks(records: list[dict], path: str | None = None) -> list[float]:
    """Sorted acknowledgement times, of one path or of all."""
    return sorted(r["t1"] for r in records if r["r"] == "ok" and (path is None or path_of(r["c"]) == path))


def longest_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch of [start, end] without an acknowledgement: the stretch that contains
    `start` is measured from the last acknowledgement before it; one still open at `end` up to `end`."""
    before = [t for t in times if t < start]
    inside = [t for t in times if start <= t <= end]
    points = ([before[-1]] if before else [start]) + inside + [end]
    return max(b - a for a, b in zip(points, points[1:]))


def series(records: list[dict], start: float, end: float, bucket: float = BUCKET_S) -> dict[str, list[int]]:
    """Acknowledged writes per bucket of [start, end), per path."""
    count = max(1, int(round((end - start) / bucket)))
    out: dict[str, list[int]] = {}
    for record in records:
        path = path_of(record["c"])
        counts = out.setdefault(path, [0] * count)
        if record["r"] == "ok" and start <= record["t1"] < end:
            counts[min(count - 1, int((record["t1"] - start) / bucket))] += 1
    return out


def annotate(events: list[dict], records: list[dict], run_end: float) -> None:
    """Add to each applied event the longest write outage, overall and per path, between its
    fault and the next event (`write_gap_s`, `write_gap_by_path_s`), and for the leader-taking
    kinds the write series around it (`series`: acknowledged writes per 100 ms from 5 s before)."""
    applied = [e for e in events if e.get("start")]
    paths = sorted({path_of(r["c"]) for r in records})
    for i, event in enumerate(applied):
        end = applied[i + 1]["start"] if i + 1 < len(applied) else run_end
        event["write_gap_s"] = round(longest_gap(acks(records), event["start"], end), 3)
        event["write_gap_by_path_s"] = {p: round(longest_gap(acks(records, p), event["start"], end), 3)
                                        for p in paths}
        if event["kind"] in SERIES_KINDS:
            event["series"] = {"bucket_s": BUCKET_S, "from_s": -SERIES_BEFORE_S,
                               "counts": series(records, event["start"] - SERIES_BEFORE_S,
                                                min(end, event["start"] + SERIES_AFTER_S))}


def distribution(values: list[float]) -> dict | None:
    """min, median, p95, max and the count; None for no values."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return {"runs": len(values), "min": values[0], "median": statistics.median(values), "p95": p95,
            "max": values[-1]}


def by_kind(events: list[dict]) -> dict[str, dict]:
    """Per kind of fault: how many were applied, how many could not be, and the distributions of
    the time until the cluster was available again and of the longest write outage."""
    out: dict[str, dict] = {}
    for event in events:
        row = out.setdefault(event["kind"], {"events": 0, "applied": 0, "_back": [], "_gap": []})
        row["events"] += 1
        if is_applied(event):
            row["applied"] += 1
            row["_back"].append(event.get("available_after_s"))
            row["_gap"].append(event.get("write_gap_s"))
    for row in out.values():
        row["available_after_s"] = distribution(row.pop("_back"))
        row["write_gap_s"] = distribution(row.pop("_gap"))
    return dict(sorted(out.items()))


def is_applied(event: dict) -> bool:
    """The fault really took effect: it was started on a target (or needs none) and not refused."""
    return bool(event.get("start")) and "fault not applied" not in event.get("note", "")
