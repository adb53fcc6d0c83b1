"""Checks API answers (and request bodies) against the agent's /openapi.json, with jsonschema.

OpenAPI 3.0's schemas are JSON Schema but for two things this turns into plain JSON Schema
(draft 7): `nullable: true` (here: or null) and `$ref` into components (here: inlined).
The integration harness (tests/integration/harness.py) runs every answer of its real agents
through `check_answer`; tests/api/test_openapi.py checks the document itself.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import jsonschema

from qluster_agent.api.openapi import document


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    return document()


def json_schema(node: Any, doc: dict[str, Any] | None = None) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: references inlined, nullable as `or null`."""
    doc = doc or _document()
    if isinstance(node, list):
        return [json_schema(item, doc) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return json_schema(doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]], doc)
    converted = {key: (json_schema(value, doc) if key != "properties" else
                       {name: json_schema(prop, doc) for name, prop in value.items()})
                 for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def path_template(target: str, doc: dict[str, Any] | None = None) -> str | None:
    """The document's path that a request target falls under ("/members/3" -> "/members/{member}")."""
    doc = doc or _document()
    path = urlsplit(target).path.rstrip("/") or "/"
    if path in doc["paths"]:
        return path
    parts = path.split("/")
    for template in doc["paths"]:
        pieces = template.split("/")
        if len(pieces) == len(parts) and all(p == q or (p.startswith("{") and p.endswith("}"))
                                             for p, q in zip(pieces, parts)):
            return template
    return None


def operation(method: str, target: str) -> dict[str, Any] | None:
    template = path_template(target)
    return _document()["paths"][template].get(method.lower()) if template else None


def answer_schema(method: str, target: str, status: int) -> dict[str, Any] | None:
    """The JSON schema the document gives this answer; raises AssertionError when it gives none.
    None: the answer has no body (HEAD, OPTIONS, a health check's status)."""
    op = operation(method, target)
    if op is None:
        # Not an operation of the API: the router answers 404 or 405 with an Error.
        assert status in (404, 405), f"{method} {target} answered {status} but is not in /openapi.json"
        return json_schema({"$ref": "#/components/schemas/Error"})
    responses = op["responses"]
    answer = responses.get(str(status), responses.get("default"))
    assert answer is not None, f"{method} {target}: status {status} is not in /openapi.json"
    content = answer.get("content")
    if content is None:
        return None
    return json_schema(content.get("application/json", {}).get("schema", {"type": "string"}))


def check_answer(method: str, target: str, status: int, payload: Any) -> None:
    """Raises AssertionError naming what is wrong when a JSON answer does not fit the document."""
    schema = answer_schema(method, target, status)
    if schema is None:
        return
    try:
        jsonschema.validate(payload, schema)
    except jsonschema.ValidationError as exc:
        raise AssertionError(f"{method} {target} -> {status} does not fit /openapi.json: {exc.message} "
                             f"at {list(exc.absolute_path)}") from None


def check_request(method: str, target: str, body: Any) -> None:
    op = operation(method, target)
    assert op is not None, f"{method} {target} is not in /openapi.json"
    schema = json_schema(op["requestBody"]["content"]["application/json"]["schema"])
    try:
        jsonschema.validate(body, schema)
    except jsonschema.ValidationError as exc:
        raise AssertionError(f"{method} {target}: the body does not fit /openapi.json: {exc.message}") from None
