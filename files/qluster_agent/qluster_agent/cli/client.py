"""A small HTTP client for the agent API (standard library only: nodes may be air-gapped)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any


class ApiClientError(RuntimeError):
    pass


class ApiClient:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 10.0,
                 context: ssl.SSLContext | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.context = context  # for an https:// base_url (api/tls.py client_context)

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, body)

    def delete(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call("DELETE", path, body)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ApiClientError(_describe_error(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiClientError(f"cannot reach the agent at {self.base_url}: {reason}") from None


def _describe_error(exc: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(exc.read())
    except ValueError:
        return f"HTTP {exc.code}"
    message = f"HTTP {exc.code}: {payload.get('error', '')}"
    details = payload.get("details")
    if isinstance(details, list):
        message += "".join(f"\n  - {item}" for item in details)
    elif details:
        message += f" ({details})"
    return message
