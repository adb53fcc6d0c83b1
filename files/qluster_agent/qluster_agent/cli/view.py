"""The cluster map as people read it: a header naming the cluster, its leader and term, then one
row per member. Pure functions of the map (`GET /map`), so `list`, `list --watch` and
`switchover` print the same thing."""

from __future__ import annotations

import time
from typing import Any

from ..api.map_member import MapMember
from .table import human_bytes, render

HEADERS = ["ID", "NAME", "ADDRESS", "ROLE", "STATE", "DB", "TL", "STREAMING", "WAL", "LAG"]


def members(cmap: dict[str, Any]) -> list[MapMember]:
    return [MapMember.from_json(row) for row in cmap.get("members", [])]


def find(cmap: dict[str, Any], wanted: str) -> MapMember | None:
    """The member a user named: by id, name or address."""
    return next((m for m in members(cmap) if wanted in (str(m.id), m.name, m.address)), None)


def leader(cmap: dict[str, Any]) -> MapMember | None:
    return next((m for m in members(cmap) if m.id == cmap.get("leader")), None) if cmap.get("leader") else None


def describe(m: MapMember) -> str:
    """`qluster-02 (node 2)`."""
    return f"{m.name} (node {m.id})"


def header(cmap: dict[str, Any]) -> str:
    lead = leader(cmap)
    paused = "   PAUSED (maintenance mode: qlusterctl resume)" if cmap.get("paused") else ""
    return (f"cluster {cmap.get('cluster_id', '-')}   leader {describe(lead) if lead else 'none'}   "
            f"term {cmap.get('term', '-')}{paused}")


def row(m: MapMember) -> list[Any]:
    database = m.role != "observer" and m.db_port is not None
    if not database:
        streaming, lag = None, None
    elif m.role == "leader":
        # The leader is what the others stream from: neither "no" nor a lag of its own.
        streaming, lag = "leader", None
    else:
        streaming, lag = "yes" if m.streaming else "no", human_bytes(m.lag_bytes)
    # As Patroni's list marks it: a setting reloaded waits for `qlusterctl restart`.
    state = f"{m.state}, restart pending" if database and m.pending_restart else m.state
    return [m.id, m.name, m.address, m.role, state, m.db_role, m.timeline if database else None, streaming,
            m.wal_position, lag]


def table(cmap: dict[str, Any]) -> str:
    return header(cmap) + "\n\n" + render(HEADERS, [row(m) for m in members(cmap)])


HISTORY_HEADERS = ["TIME (UTC)", "TERM", "FROM", "TO", "REASON"]


def _who(node_id: Any, name: Any) -> str | None:
    if node_id is None:
        return None
    return f"{name} (node {node_id})" if name else f"node {node_id}"


def history_table(changes: list[dict[str, Any]]) -> str:
    """`qlusterctl history`: one row per leader change, oldest first (GET /history)."""
    rows = [[time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(c.get("at", 0)))), c.get("term"),
             _who(c.get("from"), c.get("from_name")), _who(c.get("to"), c.get("to_name")), c.get("reason")]
            for c in changes]
    return render(HISTORY_HEADERS, rows) if rows else "no leader change recorded yet"
