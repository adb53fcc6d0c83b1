"""Maps one request to one answer, without sockets: `Router.handle()` is what tests call.

Reads (GET /map, /config, /members, /history, the health checks, /metrics) are open to every client.
A change (POST, DELETE) is accepted when one of these holds, checked in this order:

- it was forwarded by a member and signed with the cluster secret (forwarding.py);
- it comes from this node's loopback and `api-trust-loopback` is true: the default without an
  api-token, so the seed's `curl -X POST http://localhost:8080/config` works on the node itself
  and nowhere else; with a token, an explicit opt-in;
- it carries the API token (`Authorization: Bearer <token>`).

Over HTTPS with `api-verify-client` optional or required, a change also needs a verified client
certificate (the server socket tells, in `Request.client_cert`); a member forwarding a change
presents its own node certificate.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import forwarding
from . import health as health_checks
from .backend import ApiError, Backend
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import render as render_metrics
from .openapi import document as openapi_document

MAX_BODY = 1 << 20
JSON = "application/json"
MEMBER_PATH = "/members/{member}"  # DELETE: the member by id, name or address


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query as sent
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    client: str = "127.0.0.1"
    tls: bool = False  # the connection is HTTPS
    client_cert: bool = False  # ... and the client presented a certificate that chains to api-cafile


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def json_response(status: int, payload: Any) -> Response:
    return Response(status, (json.dumps(payload, indent=2, sort_keys=False) + "\n").encode())


def error_response(status: int, message: str, details: Any = None) -> Response:
    payload: dict[str, Any] = {"error": message}
    if details is not None:
        payload["details"] = details
    return json_response(status, payload)


class Router:
    def __init__(self, backend: Backend, token: str | None = None, forward_key: bytes | None = None,
                 clock=time.time, node_id: int = 0, trust_loopback: bool | None = None,
                 client_cert_for_changes: bool = False) -> None:
        self._backend = backend
        self._token = token
        # api-trust-loopback; its default, as the config's, is true without a token only.
        self._trust_loopback = token is None if trust_loopback is None else trust_loopback
        self._client_cert_for_changes = client_cert_for_changes  # api-verify-client is not none
        self._forward_key = forward_key  # the cluster secret: changes other members forward
        self._clock = clock
        self._node_id = node_id  # a forwarded change must be signed for this node
        self._seen_nonces = forwarding.SeenNonces()

    def handle(self, request: Request) -> Response:
        try:
            return self._dispatch(request)
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.details)
        except health_checks.LagError as exc:
            return error_response(400, str(exc))

    # ------------------------------------------------------------------------------------
    def _dispatch(self, request: Request) -> Response:
        parts = urlsplit(request.target)
        path = unquote(parts.path).rstrip("/") or "/"
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        method = request.method.upper()

        if path in health_checks.CHECKS:
            return self._health(method, path, query)
        if method == "OPTIONS":
            return Response(200, headers=(("Allow", "GET, HEAD, POST, DELETE, OPTIONS"),))

        reads = self._reads()
        if method in ("GET", "HEAD") and path in reads:
            return _strip_body(reads[path](), method)

        writes = self._writes()
        if (method, path) in writes:
            self._authorize(request)
            return json_response(200, writes[(method, path)](self._json_body(request)))
        if method == "DELETE" and path.startswith("/members/") and path.count("/") == 2:
            self._authorize(request)
            body = self._json_body(request) if request.body else {}
            return json_response(200, self._backend.remove_member(path.split("/")[2], body))

        known = set(reads) | {p for _method, p in writes} | {MEMBER_PATH}
        if path in known:
            return error_response(405, f"method {method} is not allowed on {path}")
        return error_response(404, f"no such endpoint: {path}")

    def routes(self) -> set[tuple[str, str]]:
        """Every (method, path) this router answers, a path parameter written {name}: what
        /openapi.json must describe (tests/api/test_openapi.py checks it does)."""
        reads = {(method, path) for path in self._reads() for method in ("GET", "HEAD")}
        health = {(method, path) for path in health_checks.CHECKS for method in ("GET", "HEAD")}
        routes = reads | set(self._writes()) | health | {("DELETE", MEMBER_PATH)}
        return routes | {("OPTIONS", path) for _method, path in routes}  # OPTIONS: any path

    def _reads(self) -> dict[str, Callable[[], Response]]:
        return {
            "/map": lambda: json_response(200, self._backend.cluster_map()),
            "/config": lambda: json_response(200, self._backend.get_config()),
            "/members": lambda: json_response(200, {"members": self._backend.list_members()}),
            "/history": lambda: json_response(200, self._backend.history()),
            "/metrics": lambda: Response(200, render_metrics(self._backend), METRICS_CONTENT_TYPE),
            "/openapi.json": lambda: json_response(200, openapi_document()),
        }

    def _writes(self) -> dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            ("POST", "/config"): self._backend.update_config,
            ("POST", "/members"): self._backend.add_member,
            ("POST", "/switchover"): self._backend.switchover,
            ("POST", "/reinit"): self._backend.reinit,
            ("POST", "/pause"): self._backend.pause,
            ("POST", "/resume"): self._backend.resume,
            ("POST", "/restart"): self._backend.restart,
            ("POST", "/reload"): self._backend.reload,
        }

    def _health(self, method: str, path: str, query: dict[str, str]) -> Response:
        if method not in ("GET", "HEAD", "OPTIONS"):
            return error_response(405, f"method {method} is not allowed on {path}")
        snapshot = self._backend.health()
        ok = health_checks.check(path, snapshot, query.get("lag"))
        status = 200 if ok else 503
        if method == "GET":
            return json_response(status, {"path": path, "ok": ok, "state": snapshot.__dict__})
        return Response(status)

    def _authorize(self, request: Request) -> None:
        if request.tls and self._client_cert_for_changes and not request.client_cert:
            raise ApiError(403, "a change over HTTPS needs a client certificate signed by the cluster's CA "
                                "(api-cafile); none was presented")
        signature = request.headers.get(forwarding.HEADER)
        if signature is not None and self._forward_key is not None:
            problem = forwarding.verify(self._forward_key, request.method, request.target, request.body,
                                        signature, self._clock(), self._node_id, self._seen_nonces)
            if problem is not None:
                raise ApiError(403, problem)
            return
        if self._trust_loopback and _is_loopback(request.client):
            return
        if self._token is None:
            if _is_loopback(request.client):
                raise ApiError(403, "changes from loopback are not trusted (api-trust-loopback: false) and "
                                    "no api-token is configured")
            raise ApiError(403, f"changes from {request.client} need the API token, and none is configured on "
                                "this node: set api-token-file, or send the change from the node itself")
        given = request.headers.get("authorization", "")
        scheme, _sep, value = given.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "a change needs the API token (Authorization: Bearer <token>); none was sent")
        if not hmac.compare_digest(value.strip().encode(), self._token.encode()):
            raise ApiError(401, "the API token sent (Authorization: Bearer <token>) is not this node's api-token")

    @staticmethod
    def _json_body(request: Request) -> dict[str, Any]:
        if len(request.body) > MAX_BODY:
            raise ApiError(413, f"request body larger than {MAX_BODY} bytes")
        if not request.body.strip():
            return {}
        ctype = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
        if ctype != JSON:
            raise ApiError(415, f"content type {ctype!r} is not supported; send application/json")
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"the body is not valid JSON: {exc}") from None
        except RecursionError:  # not a ValueError: json gives up past the interpreter's depth
            raise ApiError(400, "the body's JSON is nested too deeply") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body


def _strip_body(response: Response, method: str) -> Response:
    if method == "HEAD":
        return Response(response.status, b"", response.content_type, response.headers)
    return response


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False
