"""The typed `postgres:` section of a config.yaml holding `section`, as the loader parses it."""

from __future__ import annotations

from typing import Any

from qluster_agent.config.loader import parse_config
from qluster_agent.config.model import PostgresSettings


def postgres(section: dict[str, Any]) -> PostgresSettings:
    """ConfigError when a key or value of `section` is refused."""
    return parse_config({"ip": "10.0.0.1", "postgres": section}).postgres
