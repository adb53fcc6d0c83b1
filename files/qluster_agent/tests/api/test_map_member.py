"""MapMember: one row of GET /map, typed once for the agent, the OpenAPI document and the clients."""

from __future__ import annotations

from dataclasses import fields

from qluster_agent.api.map_member import MAP_ROLES, MapMember, map_member_schema
from qluster_agent.api.openapi import document

ROW = MapMember(id=2, name="qluster-02", address="10.0.0.2", api_port=8080, db_port=5432, role="follower",
                voter=True, state="healthy", db_role="replica", timeline=3, wal_position="0/5000060",
                replayed_lsn="0/5000060", lag_bytes=0, streaming=True, archive_failing=False, pending_restart=False,
                last_seen_s=0.2,
                decision="I am node 2, a replica streaming from node 1; nothing to do")


def test_a_row_reads_back_as_it_was_sent() -> None:
    assert MapMember.from_json(ROW.to_json()) == ROW


def test_an_older_agents_row_lacks_keys_and_a_newer_ones_has_more() -> None:
    older = {key: value for key, value in ROW.to_json().items() if key not in ("replayed_lsn", "archive_failing", "pending_restart")}
    read = MapMember.from_json({**older, "something_new": 1})
    assert read.replayed_lsn is None and read.archive_failing is None and read.pending_restart is None
    assert read.name == "qluster-02"


def test_the_openapi_document_describes_every_field_of_a_row() -> None:
    schema = document()["components"]["schemas"]["MapMember"]
    assert schema == map_member_schema()
    assert list(schema["properties"]) == [field.name for field in fields(MapMember)]
    assert schema["properties"]["id"] == {"type": "integer"}
    assert schema["properties"]["db_port"] == {"type": "integer", "nullable": True}
    assert schema["properties"]["last_seen_s"] == {"type": "number", "nullable": True}
    assert schema["properties"]["role"]["enum"] == list(MAP_ROLES)
    answer = document()["paths"]["/map"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/ClusterMap"}
    cluster_map = document()["components"]["schemas"]["ClusterMap"]
    assert cluster_map["properties"]["members"]["items"] == {"$ref": "#/components/schemas/MapMember"}
