"""`GET /metrics`: the Prometheus text format (0.0.4) through prometheus_client (Debian's
python3-prometheus-client, 0.16 and later), with one custom collector and no global registry.

Every scrape asks the backend again: `Backend.metrics()` gives this node's own rows (term,
leadership, its database, the consensus loop, the transport) and `Backend.cluster_map()` the
members, so each member's gauges are the map the node serves at that moment (a member that left
is gone from the next scrape). Members are labelled `member` (the name), `id` and `address`.

The names, types and meaning of every metric are in docs/monitoring.md.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from .. import __version__
from ..pg.lsn import parse_lsn
from .backend import Backend
from .map_member import MapMember

# The exposition format generate_latest writes (prometheus_client's CONTENT_TYPE_LATEST names a
# newer version from 0.21 on, for the same text).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

MEMBER_LABELS = ("member", "id", "address")


def _member_gauges() -> dict[str, GaugeMetricFamily]:
    specs = [
        ("qluster_member_leader", "1 when the member is the consensus leader"),
        ("qluster_member_primary", "1 when the member's database runs as the primary (read-write)"),
        ("qluster_member_replica", "1 when the member's database runs as a replica"),
        ("qluster_member_up", "1 when the member was heard within three hello intervals and its database (if any) is as it "
                              "should be (map state healthy)"),
        ("qluster_member_reachable", "1 when the member was heard within three hello intervals (map state is not unreachable)"),
        ("qluster_member_voter", "1 when the member votes in elections"),
        ("qluster_member_timeline", "Timeline of the member's database"),
        ("qluster_member_wal_position_bytes", "WAL position the member announced (a primary's current LSN, a replica's "
                                              "furthest received or replayed), as a byte offset"),
        ("qluster_member_replayed_position_bytes", "WAL position the member's database has replayed (replicas)"),
        ("qluster_member_lag_bytes", "Bytes of WAL the member is behind the leader's position (0 for the leader)"),
        ("qluster_member_streaming", "1 when the member's database streams WAL from the leader"),
        ("qluster_member_archive_failing", "1 when the member's latest WAL archive attempt failed"),
        ("qluster_member_pending_restart", "1 when the member's database has a setting reloaded that takes effect only "
                                           "at its next restart (pg_settings.pending_restart)"),
        ("qluster_member_last_seen_seconds", "Seconds since this node last heard the member (0: itself)"),
    ]
    return {name: GaugeMetricFamily(name, text, labels=MEMBER_LABELS) for name, text in specs}


def member_families(cmap: dict[str, Any]) -> list[Metric]:
    """One family per member gauge, each with a sample per member the map names; a value the map
    does not know (an observer's timeline, an unreachable member's lag) is left out, not 0."""
    gauges = _member_gauges()
    role = GaugeMetricFamily("qluster_member_role", "1 for the member's place in consensus "
                             "(leader, follower, observer, joining) and its database's role (db_role)",
                             labels=(*MEMBER_LABELS, "role", "db_role", "state"))
    for row in cmap.get("members", []):
        m = MapMember.from_json(row)
        labels = [str(m.name), str(m.id), str(m.address or "")]
        role.add_metric([*labels, str(m.role), str(m.db_role), str(m.state)], 1.0)
        values: dict[str, float | int | None] = {
            "qluster_member_leader": int(m.role == "leader"),
            "qluster_member_voter": int(bool(m.voter)),
            "qluster_member_reachable": int(m.state != "unreachable"),
            "qluster_member_up": int(m.state == "healthy"),
            "qluster_member_last_seen_seconds": m.last_seen_s,
        }
        if m.role != "observer" and m.db_port is not None:  # a database: the gauges below mean something
            values.update({
                "qluster_member_primary": int(m.db_role == "primary"),
                "qluster_member_replica": int(m.db_role == "replica"),
                "qluster_member_timeline": m.timeline,
                "qluster_member_wal_position_bytes": _lsn(m.wal_position),
                "qluster_member_replayed_position_bytes": _lsn(m.replayed_lsn),
                "qluster_member_lag_bytes": m.lag_bytes,
                "qluster_member_streaming": int(bool(m.streaming)),
                "qluster_member_archive_failing": None if m.archive_failing is None else int(m.archive_failing),
                "qluster_member_pending_restart": None if m.pending_restart is None else int(bool(m.pending_restart)),
            })
        for name, value in values.items():
            if value is not None:
                gauges[name].add_metric(labels, float(value))
    return [role, *gauges.values()]


def cluster_families(cmap: dict[str, Any], node_id: int) -> list[Metric]:
    """What the map says of the cluster as a whole, and who this node is in it."""
    members = [MapMember.from_json(row) for row in cmap.get("members", [])]
    me = next((m for m in members if m.id == node_id), None)
    node = InfoMetricFamily("qluster_node", "The cluster this agent belongs to and its member in it",
                            value={"cluster_id": str(cmap.get("cluster_id", "")), "id": str(node_id),
                                   "member": str(me.name if me else node_id),
                                   "address": str(me.address or "") if me else ""})
    has_leader = GaugeMetricFamily("qluster_cluster_has_leader", "1 when this node knows a leader",
                                   value=int(cmap.get("leader") is not None))
    paused = GaugeMetricFamily("qluster_paused", "1 when the cluster is paused (maintenance mode: the agents leave "
                               "the databases as they are)", value=int(bool(cmap.get("paused"))))
    # Raft starts a term only by an election (a campaign, a switchover's TimeoutNow included;
    # pre-votes raise none), and the term is durable: it counts the cluster's elections.
    elections = CounterMetricFamily("qluster_elections", "Elections the cluster has held since it began (the "
                                    "consensus term: every election starts a term)", value=int(cmap.get("term") or 0))
    return [node, has_leader, paused, elections]


def build_families() -> list[Metric]:
    return [InfoMetricFamily("qluster_build", "The agent's version and the Python it runs on",
                             value={"version": __version__, "python_version": platform.python_version()})]


def row_families(rows: list[tuple[str, str, str, dict[str, str], float]]) -> list[Metric]:
    """The backend's (name, type, help, labels, value) rows, grouped into families in first-seen
    order; a counter's name ends in _total in the rows and in the output."""
    families: dict[str, Metric] = {}
    for name, kind, help_text, labels, value in rows:
        family = families.get(name)
        if family is None:
            keys = sorted(labels)
            if kind == "counter":
                family = CounterMetricFamily(name, help_text, labels=keys)
            else:
                family = GaugeMetricFamily(name, help_text, labels=keys)
            families[name] = family
        family.add_metric([str(labels[key]) for key in sorted(labels)], float(value))
    return list(families.values())


class QlusterCollector:
    """A prometheus_client collector over the backend: nothing is kept between scrapes."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def collect(self) -> Iterator[Metric]:
        cmap = self._backend.cluster_map()
        yield from build_families()
        yield from cluster_families(cmap, self._backend.health().node_id)
        yield from row_families(self._backend.metrics())
        yield from member_families(cmap)


def render(backend: Backend) -> bytes:
    """One scrape in the text format. generate_latest only calls collect(), so the collector
    stands in for a registry: nothing is registered anywhere, nothing outlives the scrape."""
    return generate_latest(QlusterCollector(backend))  # type: ignore[arg-type]


def _lsn(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return parse_lsn(text)
    except ValueError:
        return None
