"""The OpenAPI 3.0 document of the agent's API, served at /openapi.json.

Every operation names its request body and the schema of each answer; any status an operation
does not list is an `Error` (its `default` answer). The schemas come from the types the answers
are built from where there is one: `MapMember` (a map row), `NodeHealth` (a health check's
`state`), the runtime key table (config/keys.py: `GET /config`, `POST /config`).
The agent tests check every answer of running agents against this document
(tests/api/openapi_check.py) and every route of the router against its paths.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from .. import __version__
from ..cluster.state import HISTORY_LIMIT, REASONS
from ..config.keys import RUNTIME_KEYS
from .health import CHECKS, NodeHealth
from .map_member import map_member_schema

_SCHEMA_TYPES = {"int": "integer", "str": "string", "bool": "boolean", "float": "number"}
_KIND_TYPES = {"boolean": "boolean", "integer": "integer", "duration": "string"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _object(properties: dict[str, Any], required: list[str] | tuple[str, ...] = (), closed: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


_ERROR = _json("error: one sentence, and details (e.g. every bad key) when there are some", _ref("Error"))
_MEMBER_REF = {"oneOf": [{"type": "integer"}, {"type": "string"}],
               "description": "a member id, name or address"}
_MESSAGE = {"type": "string", "description": "what was done, as one sentence"}


def node_health_schema() -> dict[str, Any]:
    """A health check's `state`: NodeHealth's fields (annotations read as text, as MapMember's)."""
    properties = {}
    for field in fields(NodeHealth):
        kinds = [kind.strip() for kind in str(field.type).split("|")]
        prop: dict[str, Any] = {"type": _SCHEMA_TYPES[kinds[0]]}
        if "None" in kinds:
            prop["nullable"] = True
        properties[field.name] = prop
    return _object(properties, [field.name for field in fields(NodeHealth)])


def settings_schema(update: bool) -> dict[str, Any]:
    """The runtime settings (`cluster` keys of config.yaml, without the prefix): every key in an
    answer; any of them, and no other, in a `POST /config` body."""
    properties = {}
    for spec in RUNTIME_KEYS:
        prop: dict[str, Any] = {"type": _KIND_TYPES[spec.kind], "description": spec.doc}
        if spec.kind == "duration":
            prop["description"] += " A duration: a number and a unit (ms, s, m, h), e.g. 800ms."
        if spec.range_text:
            prop["description"] += f" Range {spec.range_text}."
        properties[spec.name] = prop
    if update:
        return _object(properties, closed=True)
    return _object(properties, [spec.name for spec in RUNTIME_KEYS])


def _schemas() -> dict[str, Any]:
    member_info = {"id": {"type": "integer", "minimum": 1}, "name": {"type": "string"}, "address": {"type": "string"},
                   "api_port": {"type": "integer"}, "db_port": {"type": "integer", "nullable": True},
                   "observer": {"type": "boolean"}}
    return {
        "Error": _object({"error": {"type": "string"}, "details": {}}, ["error"]),
        "MapMember": map_member_schema(),
        "ClusterMap": _object({"cluster_id": {"type": "string"}, "term": {"type": "integer"},
                               "leader": {"type": "integer", "nullable": True,
                                          "description": "the leader's member id; null while there is none"},
                               "leader_name": {"type": "string", "nullable": True},
                               "switchover_to": {"type": "integer", "nullable": True,
                                                 "description": "the target of the leader's switchover under way"},
                               "paused": {"type": "boolean",
                                          "description": "maintenance mode: the agents leave the databases as they are"},
                               "node_timeout_s": {"type": "number",
                                                  "description": "the cluster's node-timeout in seconds, as set now"},
                               "members": {"type": "array", "items": _ref("MapMember")}},
                              ["cluster_id", "term", "leader", "paused", "members"]),
        "Members": _object({"members": {"type": "array", "items": _ref("MapMember")}}, ["members"]),
        "Settings": settings_schema(update=False),
        "SettingsUpdate": settings_schema(update=True),
        "MemberInfo": _object(member_info, list(member_info)),
        "NewMember": _object({**member_info, "api_port": {"type": "integer", "default": 8080},
                              "db_port": {"type": "integer", "nullable": True,
                                          "description": "default 5432; null for an observer"},
                              "observer": {"type": "boolean", "default": False}},
                             ["id", "name", "address"], closed=True),
        "MemberAdded": _object({"message": _MESSAGE, "member": _ref("MemberInfo")}, ["message", "member"]),
        "MemberRemoved": _object({"message": _MESSAGE, "removed": {"type": "integer"}}, ["message", "removed"]),
        "SwitchoverRequest": _object({"leader": _MEMBER_REF,
                                      "candidate": {**_MEMBER_REF, "description": "Patroni's name for `leader`"}}),
        "SwitchoverStarted": _object({"message": _MESSAGE, "leader": {"type": "integer", "description": "the target"}},
                                     ["message", "leader"]),
        "ReinitRequest": _object({"member": _MEMBER_REF}, ["member"]),
        "ReinitRequested": _object({"message": _MESSAGE, "request": {"type": "string"}}, ["message", "request"]),
        "RestartRequest": _object({"member": _MEMBER_REF,
                                   "force": {"type": "boolean", "default": False,
                                             "description": "restart the leader's database in place (otherwise 409: "
                                                            "switch over first)"}}, ["member"], closed=True),
        "ReloadRequest": _object({"member": _MEMBER_REF}, ["member"], closed=True),
        "DatabaseRequestDone": _object({"message": _MESSAGE, "member": {"type": "integer"},
                                        "done": {"type": "boolean",
                                                 "description": "false: still under way when answered; poll /map"}},
                                       ["message", "member", "done"]),
        "NoBody": {**_object({}, closed=True), "description": "no body, or an empty object"},
        "Paused": _object({"message": _MESSAGE, "paused": {"type": "boolean", "description": "the cluster's mode now"}},
                          ["message", "paused"]),
        "LeaderChange": _object({"at": {"type": "number",
                                        "description": "when (the new leader's clock, seconds since the epoch)"},
                                 "term": {"type": "integer"},
                                 "from": {"type": "integer", "nullable": True,
                                          "description": "the previous leader; null for the first one recorded"},
                                 "from_name": {"type": "string", "nullable": True},
                                 "to": {"type": "integer"}, "to_name": {"type": "string", "nullable": True},
                                 "reason": {"type": "string", "enum": list(REASONS)}},
                                ["at", "term", "from", "to", "reason"]),
        "History": _object({"history": {"type": "array", "items": _ref("LeaderChange"),
                                        "description": f"oldest first, the latest {HISTORY_LIMIT} at most"}},
                           ["history"]),
        "NodeHealth": node_health_schema(),
        "HealthAnswer": _object({"path": {"type": "string"}, "ok": {"type": "boolean"}, "state": _ref("NodeHealth")},
                                ["path", "ok", "state"]),
    }


def _health_path(summary: str, lag: bool) -> dict[str, Any]:
    params = [{"name": "lag", "in": "query", "required": False, "schema": {"type": "string"},
               "description": "largest acceptable replication lag: bytes or e.g. 16MB"}] if lag else []
    get = {"summary": summary, "parameters": params,
           "responses": {"200": _json("yes", _ref("HealthAnswer")), "503": _json("no", _ref("HealthAnswer")),
                         "default": _ERROR}}
    bare = {"summary": f"{summary} (status only, no body)", "parameters": params,
            "responses": {"200": {"description": "yes"}, "503": {"description": "no"}, "default": _ERROR}}
    return {"get": get, "head": bare, "options": bare}


def _read(summary: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": _json(description, schema), "default": _ERROR}}}


def _write(summary: str, request: str | None, answer: str, done: str = "done (committed)",
           body_required: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {"200": _json(done, _ref(answer)), "400": _ERROR, "401": _ERROR, "403": _ERROR,
                      "404": _ERROR, "409": _ERROR, "413": _ERROR, "415": _ERROR, "503": _ERROR, "default": _ERROR},
    }
    if request is not None:
        op["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": _ref(request)}}}
    return op


_HEALTH = {
    "/primary": "200 when this node is the leader and its database takes writes",
    "/leader": "alias of /primary",
    "/read-write": "alias of /primary",
    "/master": "alias of /primary (Patroni's old name)",
    "/replica": "200 when the database runs as a replica (within ?lag=)",
    "/read-only": "200 when the database serves reads: primary or replica (within ?lag=)",
    "/health": "200 when the database is running",
    "/liveness": "200 when the agent's HA loop is alive",
    "/readiness": "200 when the node is the writable leader or a streaming replica",
}


_OPTIONS = {"summary": "the methods the API allows (header Allow)", "responses": {"200": {"description": "ok"}}}


def document() -> dict[str, Any]:
    health = {path: _health_path(summary, CHECKS[path][1]) for path, summary in _HEALTH.items()}
    paths = {**_paths(), **health}
    for path, item in paths.items():
        if path not in health:
            item["options"] = _OPTIONS
            if "get" in item:
                item["head"] = {"summary": "as GET, without the body",
                                "responses": {"200": {"description": "ok"}, "default": _ERROR}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "qluster agent API", "version": __version__,
                 "description": "Reads are open; a change needs the API token (or loopback with api-trust-loopback), "
                                "and over HTTPS a client certificate of the cluster's CA. A change sent to a follower "
                                "is forwarded to the leader and answered once committed (docs/agent.md)."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
        "paths": paths,
    }


def _paths() -> dict[str, Any]:
    return {
        "/map": _read("the cluster map: members, roles, WAL positions, leader", "the map", _ref("ClusterMap")),
        "/config": {
            **_read("the cluster's runtime settings", "settings", _ref("Settings")),
            "post": _write("change runtime settings (seed 000 §10.5); validated whole (400 naming every bad key, "
                           "nothing applied), replicated to every node", "SettingsUpdate", "Settings",
                           "the settings now in force"),
        },
        "/members": {
            **_read("members of the cluster (the map's rows)", "members", _ref("Members")),
            "post": _write("add a member (voter or observer); it joins once its agent announces itself",
                           "NewMember", "MemberAdded"),
        },
        "/members/{member}": {
            "parameters": [{"name": "member", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "a member id, name or address"}],
            "delete": _write("remove a member (refused with 409 when the rest would lose quorum, or for the leader)",
                             None, "MemberRemoved"),
        },
        "/switchover": {"post": _write("hand leadership to a named voter (set-leader); answered once started: "
                                       "poll /map for the outcome", "SwitchoverRequest", "SwitchoverStarted")},
        "/reinit": {"post": _write("re-create a replica's database from the leader (409 while paused)", "ReinitRequest",
                                   "ReinitRequested")},
        "/pause": {"post": _write("maintenance mode on: the agents leave every database as it is (no start, stop, "
                                  "fence, promote, demote, clone or rewind) until resumed; replicated", "NoBody", "Paused",
                                  "the cluster is paused", body_required=False)},
        "/resume": {"post": _write("maintenance mode off: the agents manage the databases again from the state they "
                                   "find", "NoBody", "Paused", "the cluster is resumed", body_required=False)},
        "/restart": {"post": _write("restart a member's database (fast stop, start as it was) through its agent; "
                                    "forwarded to that member; the leader only with force", "RestartRequest",
                                    "DatabaseRequestDone", "restarted, or under way (done: false)")},
        "/reload": {"post": _write("reload a member's database configuration through its agent; forwarded to that "
                                   "member", "ReloadRequest", "DatabaseRequestDone", "reloaded")},
        "/history": _read("the leader changes (time, term, from, to, reason), kept in the replicated state",
                          "the history", _ref("History")),
        "/metrics": {"get": {"summary": "Prometheus metrics (docs/monitoring.md)",
                             "responses": {"200": {"description": "text format 0.0.4",
                                                   "content": {"text/plain": {"schema": {"type": "string"}}}},
                                           "default": _ERROR}}},
        "/openapi.json": _read("this document", "OpenAPI 3.0",
                               _object({"openapi": {"type": "string"}, "info": {"type": "object"},
                                        "paths": {"type": "object"}, "components": {"type": "object"}},
                                       ["openapi", "info", "paths"])),
    }
