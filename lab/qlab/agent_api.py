"""Reads an agent's API from the host machine, as a machine on the LAN does: over HTTPS verified
against the cluster's CA once the lab has one (the roles' default), plain HTTP before that."""

from __future__ import annotations

import json
import ssl
import urllib.request
from typing import Any

from .topology import lab_of_address

API_PORT = 8080


def url_and_context(address: str, path: str, port: int = API_PORT) -> tuple[str, ssl.SSLContext | None]:
    lab = lab_of_address(address)
    if lab is not None and lab.ca_path.exists():
        return f"https://{address}:{port}{path}", ssl.create_default_context(cafile=str(lab.ca_path))
    return f"http://{address}:{port}{path}", None


def get_json(address: str, path: str, timeout: float = 3.0) -> Any:
    """GET path from the agent at address (urllib's errors and ValueError propagate)."""
    url, context = url_and_context(address, path)
    with urllib.request.urlopen(url, timeout=timeout, context=context) as answer:
        return json.loads(answer.read())


def read_map(address: str, timeout: float = 3.0) -> dict | None:
    """GET /map, or None when the agent does not answer with one."""
    try:
        return get_json(address, "/map", timeout)
    except (OSError, ValueError):
        return None
