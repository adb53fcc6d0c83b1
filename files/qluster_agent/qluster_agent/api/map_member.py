"""One member of the cluster map (`GET /map`'s `members`, `GET /members`), typed once.

The agent builds the rows (agent/views.py cluster_map), the OpenAPI document describes them
from these fields, and the clients read them back with `MapMember.from_json`: `qlusterctl list`
and the pooler's HAProxy sync (pooler/plan.py), which checks what it needs of each field itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

# MapMember.role: a member's place in consensus, as the map shows it.
MAP_ROLES = ("leader", "follower", "observer", "joining")


@dataclass(frozen=True)
class MapMember:
    id: int
    name: str
    address: str | None
    api_port: int | None
    db_port: int | None  # None: an observer, no database
    role: str  # MAP_ROLES
    voter: bool
    # healthy | degraded | unreachable, or the long operation under way (base-backup, ...)
    state: str
    db_role: str  # pg/status.py DbRole's value
    timeline: int | None
    wal_position: str | None  # LSN as PostgreSQL writes it: 0/5000060
    replayed_lsn: str | None
    lag_bytes: int | None  # behind the leader's WAL position; 0 for the leader, None for an observer
    streaming: bool
    archive_failing: bool
    # A setting reloaded that waits for the database's restart; None when unknown (an observer,
    # a database not answering, an older agent)
    pending_restart: bool | None
    last_seen_s: float | None  # seconds since its last authentic datagram, as of the answer
    decision: str | None  # its HA loop's last sentence

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> MapMember:
        """A row as an agent sent it, types unchecked: a key it lacks (an older agent) reads as
        None, and one this version does not know (a newer agent) is left out."""
        return cls(**{field.name: row.get(field.name) for field in fields(cls)})


_SCHEMA_TYPES = {"int": "integer", "str": "string", "bool": "boolean", "float": "number"}


def map_member_schema() -> dict[str, Any]:
    """The OpenAPI 3.0 schema of one row, from the fields above (their annotations are text
    here: `int | None` is read as a nullable integer, on every Python the agent supports)."""
    properties = {}
    for field in fields(MapMember):
        kinds = [kind.strip() for kind in str(field.type).split("|")]
        prop: dict[str, Any] = {"type": _SCHEMA_TYPES[kinds[0]]}
        if "None" in kinds:
            prop["nullable"] = True
        if field.name == "role":
            prop["enum"] = list(MAP_ROLES)
        properties[field.name] = prop
    return {"type": "object", "required": [field.name for field in fields(MapMember)], "properties": properties}
