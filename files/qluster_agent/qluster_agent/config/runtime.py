"""The runtime-config API (seed 000 §10.5): validate a POST /config body, render settings back.

Only the ``cluster`` keys are changeable at runtime; the body names them without the
``cluster.`` prefix and writes durations as strings ("5s").
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from .checks import cluster_problems, tick_problems
from .durations import format_duration
from .keys import KEYS, KEYS_BY_PATH, RUNTIME_KEYS
from .loader import build_cluster_settings
from .model import ClusterSettings

_PREFIX = "cluster."
_RUNTIME_NAMES = {spec.name: spec for spec in RUNTIME_KEYS}


def default_cluster_settings() -> ClusterSettings:
    return build_cluster_settings({spec.path: spec.default for spec in RUNTIME_KEYS})


def validate_cluster_update(
    body: Any, base: ClusterSettings | None = None, tick_interval: float | None = None
) -> tuple[ClusterSettings | None, list[str]]:
    """Validate the whole body and return (new settings, []) or (None, every problem).

    Keys absent from the body keep their value in ``base`` (the settings in force; the defaults
    when not given), so the seed's body, which leaves out remove-interval, changes only what it
    names. Never a partial result: one bad key rejects the whole update. Every value must lie in
    its key's range (keys.py), the same check config.yaml gets.

    ``tick_interval`` (this node's, seconds) adds the node-timeout-in-ticks check and the
    heartbeat's lower end (config/heartbeat.py), as config.yaml has them; leave it out
    where the result must not depend on the node, as when a committed entry is applied.
    """
    if not isinstance(body, dict):
        return None, [f"the body must be a JSON object, not {type(body).__name__}"]
    current = cluster_settings_to_values(base or default_cluster_settings())
    problems: list[str] = []
    for name, raw in body.items():
        spec = _RUNTIME_NAMES.get(name) if isinstance(name, str) else None
        if spec is None:
            problems.append(_unknown_key(name))
            continue
        try:
            current[spec.path] = spec.parse(raw)
        except ValueError as error:
            problems.append(f"{name}: {error}")
    if not problems:
        problems = cluster_problems(current, "", tick_interval) + tick_problems(current, tick_interval, prefix="")
    if problems:
        return None, problems
    return build_cluster_settings(current), []


def cluster_settings_to_json(settings: ClusterSettings) -> dict[str, Any]:
    """The settings as a POST /config body would write them: dashed keys, durations as strings."""
    rendered = {}
    for path, value in cluster_settings_to_values(settings).items():
        is_duration = KEYS_BY_PATH[path].kind == "duration"
        rendered[path[len(_PREFIX):]] = format_duration(value) if is_duration else value
    return rendered


def cluster_settings_to_values(settings: ClusterSettings) -> dict[str, Any]:
    """{"cluster.node-timeout": 0.8, ...}: the settings keyed by full key path."""
    return {
        _PREFIX + field.name.replace("_", "-"): getattr(settings, field.name)
        for field in dataclasses.fields(settings)
    }


# config.yaml's other keys, the postgres section named as a whole among them.
_NOT_RUNTIME_NAMES = frozenset({spec.name for spec in KEYS if not spec.runtime} | {"postgres"})


def _unknown_key(name: Any) -> str:
    if isinstance(name, str) and name in _NOT_RUNTIME_NAMES:
        return f"{name}: not changeable at runtime (edit config.yaml and restart)"
    close = difflib.get_close_matches(str(name).replace("_", "-"), list(_RUNTIME_NAMES), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{name}: unknown key{hint}"
