"""The OpenAPI 3.0 document of the agent's API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from .. import __version__
from .map_member import map_member_schema

_ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_OBJECT = {"type": "object", "additionalProperties": True}
_MEMBERS = {"type": "array", "items": {"$ref": "#/components/schemas/MapMember"}}
_MAP = {"type": "object", "required": ["cluster_id", "term", "leader", "members"],
        "properties": {"cluster_id": {"type": "string"}, "term": {"type": "integer"},
                       "leader": {"type": "integer", "nullable": True},
                       "leader_name": {"type": "string", "nullable": True}, "members": _MEMBERS}}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or _OBJECT}}}


def _health_path(summary: str, lag: bool) -> dict[str, Any]:
    params = [{"name": "lag", "in": "query", "required": False, "schema": {"type": "string"},
               "description": "largest acceptable replication lag: bytes or e.g. 16MB"}] if lag else []
    op = {"summary": summary, "parameters": params,
          "responses": {"200": {"description": "yes"}, "503": {"description": "no"},
                        **({"400": _ERROR} if lag else {})}}
    return {"get": op, "head": op, "options": {"summary": "allowed methods", "responses": {"200": {"description": "ok"}}}}


def _write(summary: str, body_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": [{"bearer": []}],
        "requestBody": {"required": False, "content": {"application/json": {"schema": body_schema or _OBJECT}}},
        "responses": {"200": _json("done"), "400": _ERROR, "401": _ERROR, "403": _ERROR, "409": _ERROR, "503": _ERROR},
    }


def document() -> dict[str, Any]:
    health = {
        "/primary": _health_path("200 when this node is the leader and its database takes writes", False),
        "/leader": _health_path("alias of /primary", False),
        "/read-write": _health_path("alias of /primary", False),
        "/master": _health_path("alias of /primary (Patroni's old name)", False),
        "/replica": _health_path("200 when the database runs as a replica (within ?lag=)", True),
        "/read-only": _health_path("200 when the database serves reads: primary or replica (within ?lag=)", True),
        "/health": _health_path("200 when the database is running", False),
        "/liveness": _health_path("200 when the agent's HA loop is alive", False),
        "/readiness": _health_path("200 when the node is the writable leader or a streaming replica", False),
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "qluster agent API", "version": __version__},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error"],
                                  "properties": {"error": {"type": "string"}, "details": {}}},
                        "MapMember": map_member_schema()},
        },
        "paths": {
            "/map": {"get": {"summary": "the cluster map: members, roles, WAL positions, leader",
                             "responses": {"200": _json("the map", _MAP)}}},
            "/config": {
                "get": {"summary": "the cluster's runtime settings", "responses": {"200": _json("settings")}},
                "post": _write("change runtime settings (seed 000 §10.5); validated whole, replicated to every node"),
            },
            "/members": {
                "get": {"summary": "members of the cluster", "responses": {"200": _json("members", _MEMBERS)}},
                "post": _write("add a member (voter or observer)"),
            },
            "/members/{member}": {
                "parameters": [{"name": "member", "in": "path", "required": True, "schema": {"type": "string"}}],
                "delete": _write("remove a member by id, name or address"),
            },
            "/switchover": {"post": _write("hand leadership to a named member (set-leader)")},
            "/reinit": {"post": _write("re-create a replica's database from the leader")},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "text format 0.0.4",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"summary": "this document", "responses": {"200": _json("OpenAPI 3.0")}}},
            **health,
        },
    }
