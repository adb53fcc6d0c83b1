"""GET /metrics: prometheus_client's exposition of this node's rows and every member of the map."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from qluster_agent.api.map_member import MapMember
from qluster_agent.api.router import Request, Router

from .fakes import RecordingBackend, with_, LEADER


def member(node_id: int, name: str, role: str, db_role: str, **more) -> dict:
    row = dict(id=node_id, name=name, address=f"10.0.0.{node_id}", api_port=8080, db_port=5432, role=role,
               voter=True, state="healthy", db_role=db_role, timeline=3, wal_position="0/5000060",
               replayed_lsn=None, lag_bytes=0, streaming=False, archive_failing=False, pending_restart=False, last_seen_s=0.2,
               decision="nothing to do")
    row.update(more)
    return MapMember(**row).to_json()


MAP = {
    "cluster_id": "c0ffee", "term": 7, "leader": 1, "leader_name": "pg-1", "paused": False,
    "members": [
        member(1, "pg-1", "leader", "primary", last_seen_s=0.0),
        member(2, "pg-2", "follower", "replica", wal_position="0/5000000", replayed_lsn="0/4FFFF00",
               lag_bytes=96, streaming=True, pending_restart=True),
        member(3, "pg-3", "follower", "stopped", state="unreachable", timeline=None, wal_position=None,
               lag_bytes=None, pending_restart=None, last_seen_s=None),
        member(9, "pooler", "observer", "none", voter=False, db_port=None, timeline=None, wal_position=None,
               lag_bytes=None, pending_restart=None),
    ],
}


class MapBackend(RecordingBackend):
    def __init__(self, cmap: dict) -> None:
        super().__init__(with_(LEADER, node_id=1))
        self.cmap = cmap

    def cluster_map(self):
        return self.cmap


def scrape(backend) -> dict[str, dict[tuple, float]]:
    """name -> {sorted label items: value}, through prometheus_client's own parser."""
    response = Router(backend).handle(Request("GET", "/metrics"))
    assert response.status == 200
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def of(samples, name: str, member_name: str) -> float | None:
    found = [value for labels, value in samples.get(name, {}).items() if ("member", member_name) in labels]
    assert len(found) <= 1, (name, member_name, found)
    return found[0] if found else None


def test_every_member_has_its_gauges_labelled_by_name_id_and_address() -> None:
    samples = scrape(MapBackend(MAP))
    labels = dict(next(iter(key for key in samples["qluster_member_timeline"] if ("member", "pg-2") in key)))
    assert labels == {"member": "pg-2", "id": "2", "address": "10.0.0.2"}
    assert of(samples, "qluster_member_leader", "pg-1") == 1 and of(samples, "qluster_member_leader", "pg-2") == 0
    assert of(samples, "qluster_member_primary", "pg-1") == 1 and of(samples, "qluster_member_replica", "pg-1") == 0
    assert of(samples, "qluster_member_replica", "pg-2") == 1 and of(samples, "qluster_member_primary", "pg-2") == 0
    assert of(samples, "qluster_member_timeline", "pg-1") == 3
    assert of(samples, "qluster_member_streaming", "pg-2") == 1 and of(samples, "qluster_member_streaming", "pg-1") == 0
    assert of(samples, "qluster_member_lag_bytes", "pg-1") == 0 and of(samples, "qluster_member_lag_bytes", "pg-2") == 96
    assert of(samples, "qluster_member_wal_position_bytes", "pg-1") == 0x5000060
    assert of(samples, "qluster_member_replayed_position_bytes", "pg-2") == 0x4FFFF00
    assert of(samples, "qluster_member_archive_failing", "pg-1") == 0
    assert of(samples, "qluster_member_pending_restart", "pg-1") == 0
    assert of(samples, "qluster_member_pending_restart", "pg-2") == 1
    assert of(samples, "qluster_member_up", "pg-1") == 1 and of(samples, "qluster_member_up", "pg-3") == 0
    assert of(samples, "qluster_member_reachable", "pg-3") == 0
    role = {dict(key)["member"]: dict(key) for key in samples["qluster_member_role"]}
    assert role["pg-1"]["role"] == "leader" and role["pg-1"]["db_role"] == "primary"
    assert role["pooler"]["role"] == "observer"


def test_what_the_map_does_not_know_is_left_out_not_zero() -> None:
    samples = scrape(MapBackend(MAP))
    # pg-3 is unreachable: no timeline, position or lag; the pooler has no database.
    for name in ("qluster_member_timeline", "qluster_member_wal_position_bytes", "qluster_member_lag_bytes",
                 "qluster_member_pending_restart", "qluster_member_last_seen_seconds"):
        assert of(samples, name, "pg-3") is None, name
    for name in ("qluster_member_timeline", "qluster_member_primary", "qluster_member_replica",
                 "qluster_member_streaming", "qluster_member_lag_bytes", "qluster_member_pending_restart"):
        assert of(samples, name, "pooler") is None, name
    assert of(samples, "qluster_member_last_seen_seconds", "pooler") == 0.2


def test_cluster_node_build_and_counters() -> None:
    samples = scrape(MapBackend(MAP))
    assert samples["qluster_paused"] == {(): 0.0}
    assert scrape(MapBackend({**MAP, "paused": True}))["qluster_paused"] == {(): 1.0}  # maintenance mode
    assert samples["qluster_cluster_has_leader"] == {(): 1.0}
    assert samples["qluster_elections_total"] == {(): 7.0}
    (node_labels, value), = samples["qluster_node_info"].items()
    assert value == 1
    assert dict(node_labels) == {"cluster_id": "c0ffee", "id": "1", "member": "pg-1", "address": "10.0.0.1"}
    (build_labels, value), = samples["qluster_build_info"].items()
    assert value == 1 and dict(build_labels)["version"]
    # The backend's own rows come through, a counter keeping its _total.
    assert samples["qluster_term"] == {(): 4.0}
    assert samples["qluster_transport_events_total"] == {(("kind", 'odd "kind"'),): 1.0}


def test_each_scrape_reads_the_map_again() -> None:
    backend = MapBackend(MAP)
    assert of(scrape(backend), "qluster_member_up", "pg-3") == 0
    backend.cmap = {**MAP, "leader": None, "members": MAP["members"][:2]}
    samples = scrape(backend)
    assert of(samples, "qluster_member_up", "pg-3") is None
    assert samples["qluster_cluster_has_leader"] == {(): 0.0}


def test_a_starting_agent_with_an_empty_map_still_answers() -> None:
    samples = scrape(MapBackend({"cluster_id": "c0ffee", "term": 0, "leader": None, "members": []}))
    assert samples["qluster_elections_total"] == {(): 0.0}
    assert "qluster_member_up" not in samples
