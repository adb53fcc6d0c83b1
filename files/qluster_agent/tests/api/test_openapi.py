"""/openapi.json: every route the router answers is described, with request and answer schemas
that the router's answers fit (the integration tests check real agents' answers the same way)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from qluster_agent.api.backend import ApiError
from qluster_agent.api.openapi import document
from qluster_agent.api.router import Request, Router
from qluster_agent.config.runtime import cluster_settings_to_json, default_cluster_settings

from .fakes import REPLICA, RecordingBackend, with_
from .openapi_check import answer_schema, check_answer, check_request, json_schema
from .test_metrics import MAP

METHODS = ("get", "head", "post", "delete", "options")


def operations(doc) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method in METHODS}


def test_every_route_of_the_router_is_in_the_document_and_nothing_else() -> None:
    routes = Router(RecordingBackend()).routes()
    assert routes - operations(document()) == set(), "routes /openapi.json does not describe"
    assert operations(document()) - routes == set(), "operations the router does not answer"


def test_every_operation_names_its_answers_and_every_change_its_body() -> None:
    doc = document()
    jsonschema.Draft7Validator.check_schema(json_schema(doc["components"]["schemas"]))
    for method, path in operations(doc):
        op = doc["paths"][path][method.lower()]
        assert "200" in op["responses"], (method, path)
        if method in ("GET",):
            assert op["responses"]["200"]["content"], (method, path)
        if method in ("POST", "DELETE"):
            assert op["security"] == [{"bearer": []}] and "default" in op["responses"], (method, path)
        if method == "POST":
            assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"], path


class ShapedBackend(RecordingBackend):
    """Answers shaped as agent/backend.py AgentBackend gives them."""

    def __init__(self) -> None:
        super().__init__(with_(REPLICA, node_id=2))
        self.settings = default_cluster_settings()

    def cluster_map(self):
        return MAP

    def list_members(self):
        return MAP["members"]

    def get_config(self):
        return cluster_settings_to_json(self.settings)

    def update_config(self, body):
        return self.get_config()

    def add_member(self, body):
        return {"message": "node 4 (pg-4) recorded; it joins once its agent announces itself",
                "member": {"id": 4, "name": "pg-4", "address": "10.0.0.4", "api_port": 8080, "db_port": 5432,
                           "observer": False}}

    def remove_member(self, member, body):
        if member == "pg-9":
            raise ApiError(404, "member 'pg-9' is not a member of this cluster")
        return {"message": "node 3 removed", "removed": 3}

    def switchover(self, body):
        return {"message": "switchover to node 2 started", "leader": 2}

    def reinit(self, body):
        return {"message": "node 3 will re-create its database from the leader", "request": "3f2a"}


REQUESTS = [
    ("GET", "/map", None), ("GET", "/members", None), ("GET", "/config", None), ("GET", "/openapi.json", None),
    ("POST", "/config", {"node-timeout": "2s", "quorum-replication": True}),
    ("POST", "/members", {"id": 4, "name": "pg-4", "address": "10.0.0.4"}),
    ("DELETE", "/members/pg-3", None), ("DELETE", "/members/pg-9", None),
    ("POST", "/switchover", {"leader": "pg-2"}), ("POST", "/switchover", {"candidate": 2}),
    ("POST", "/reinit", {"member": 3}),
    ("GET", "/replica", None), ("GET", "/primary", None), ("GET", "/replica?lag=16MB", None), ("GET", "/replica?lag=x", None),
    ("GET", "/nope", None), ("DELETE", "/config", None), ("POST", "/config", b"[1]"), ("POST", "/reinit", b"{bad"),
]


@pytest.mark.parametrize("method, target, body", REQUESTS)
def test_the_routers_answers_fit_the_document(method, target, body) -> None:
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    response = Router(ShapedBackend()).handle(Request(method, target, {"content-type": "application/json"}, raw))
    check_answer(method, target, response.status, json.loads(response.body))


@pytest.mark.parametrize("method, target, body", [r for r in REQUESTS if isinstance(r[2], dict)])
def test_the_requests_a_client_sends_fit_the_document(method, target, body) -> None:
    check_request(method, target, body)


def test_a_config_body_with_an_unknown_key_or_a_number_for_a_duration_does_not_fit() -> None:
    for body in ({"node-timeout": "2s", "nope": 1}, {"node-timeout": 2}):
        with pytest.raises(AssertionError):
            check_request("POST", "/config", body)


def test_the_settings_schema_is_the_runtime_key_table() -> None:
    settings = document()["components"]["schemas"]["Settings"]
    assert list(settings["properties"]) == list(cluster_settings_to_json(default_cluster_settings()))
    assert settings["required"] == list(settings["properties"])


def test_an_answer_the_document_does_not_describe_is_named() -> None:
    with pytest.raises(AssertionError, match="does not fit"):
        check_answer("GET", "/map", 200, {"leader": 1, "members": []})
    with pytest.raises(AssertionError, match="does not fit"):
        check_answer("POST", "/switchover", 200, {"message": "started"})
    assert answer_schema("HEAD", "/map", 200) is None
    check_answer("GET", "/members/3", 405, {"error": "method GET is not allowed on /members/3"})
