"""Checks that involve more than one key. Each returns problem lines (empty when fine)."""

from __future__ import annotations

from typing import Any

from .durations import format_duration


def cluster_problems(values: dict[str, Any], prefix: str = "cluster.") -> list[str]:
    """Consistency of the cluster section; ``values`` maps full key paths to parsed values.

    ``prefix`` is how keys are named in the messages: "cluster." for the file, "" for POST /config.
    """
    problems = []
    heartbeat = values.get("cluster.heartbeat-interval")
    node_timeout = values.get("cluster.node-timeout")
    # Equal values are allowed because seed 000 §10.5 posts heartbeat-interval = node-timeout = 5s;
    # a heartbeat slower than the timeout would make every follower call elections forever.
    if heartbeat is not None and node_timeout is not None and heartbeat > node_timeout:
        problems.append(
            f"{prefix}heartbeat-interval: {format_duration(heartbeat)!r} is longer than "
            f"{prefix}node-timeout {format_duration(node_timeout)!r}"
        )
    if values.get("cluster.quorum-replication") is False and values.get("cluster.replication-factor") == 0:
        problems.append(
            f"{prefix}replication-factor: 0 with {prefix}quorum-replication false leaves no "
            "commit rule (set quorum-replication: true or replication-factor >= 1)"
        )
    return problems


def agent_problems(values: dict[str, Any], given: set[str]) -> list[str]:
    """Consistency of the top-level keys; ``given`` holds the paths present in the file."""
    problems = []
    tick = values.get("tick-interval")
    heartbeat = values.get("cluster.heartbeat-interval")
    if tick is not None and heartbeat is not None and tick > heartbeat:
        problems.append(
            f"tick-interval: {format_duration(tick)!r} is longer than "
            f"cluster.heartbeat-interval {format_duration(heartbeat)!r}"
        )
    for inline, from_file in (("secret", "secret-file"), ("api-token", "api-token-file")):
        if inline in given and from_file in given:
            problems.append(f"{inline}: set together with {from_file}; keep only one")
    if values.get("insecure-no-auth") and ({"secret", "secret-file"} & given):
        problems.append("insecure-no-auth: true together with a secret; remove one of them")
    return problems
