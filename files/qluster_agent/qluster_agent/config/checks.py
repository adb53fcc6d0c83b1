"""Checks that involve more than one key. Each returns problem lines (empty when fine)."""

from __future__ import annotations

from typing import Any

from .durations import format_duration
from .heartbeat import MIN_ELECTION_TICKS, heartbeat_problem
from .keys import KEYS_BY_PATH
from .model import VerifyClient

# The longest election, in ticks: a sanity bound on the tick counters. With the key ranges of
# today (tick >= 1ms, node-timeout <= 60s) it cannot be reached; it guards a widening.
MAX_ELECTION_TICKS = 100_000


def cluster_problems(values: dict[str, Any], prefix: str = "cluster.", tick: float | None = None) -> list[str]:
    """Consistency of the cluster section; ``values`` maps full key paths to parsed values.

    ``prefix`` is how keys are named in the messages: "cluster." for the file, "" for POST /config.
    ``tick`` (this node's tick-interval) adds the heartbeat's lower end; leave it out where the
    result must not depend on the node.
    """
    problems = []
    heartbeat = heartbeat_problem(values.get("cluster.heartbeat-interval"), values.get("cluster.node-timeout"),
                                  tick, prefix)
    if heartbeat is not None:
        problems.append(heartbeat)
    if values.get("cluster.quorum-replication") is False and values.get("cluster.replication-factor") == 0:
        problems.append(
            f"{prefix}replication-factor: 0 with {prefix}quorum-replication false leaves no "
            "commit rule (set quorum-replication: true or replication-factor >= 1)"
        )
    return problems


def tick_problems(values: dict[str, Any], tick: float | None, prefix: str = "cluster.") -> list[str]:
    """node-timeout counted in ticks of ``tick`` seconds must be MIN..MAX_ELECTION_TICKS long.

    The problem names node-timeout with the range it has at this tick-interval: its own range in
    the key table narrowed by the tick bounds.
    """
    node_timeout = values.get("cluster.node-timeout")
    if tick is None or node_timeout is None:
        return []
    own = KEYS_BY_PATH["cluster.node-timeout"].parse
    # Whole milliseconds, as every duration is, so the rendered ends are exact.
    shortest = max(own.minimum, round(MIN_ELECTION_TICKS * tick * 1000) / 1000)
    longest = min(own.maximum, round(MAX_ELECTION_TICKS * tick * 1000) / 1000)
    if shortest <= node_timeout <= longest:
        return []
    return [
        f"{prefix}node-timeout: {format_duration(node_timeout)!r} is out of range "
        f"{format_duration(shortest)}..{format_duration(longest)} at tick-interval "
        f"{format_duration(tick)!r} ({MIN_ELECTION_TICKS}..{MAX_ELECTION_TICKS} ticks)"
    ]


def agent_problems(values: dict[str, Any], given: set[str]) -> list[str]:
    """Consistency of the top-level keys; ``given`` holds the paths present in the file."""
    tick = values.get("tick-interval")
    problems = tick_problems(values, tick)
    for inline, from_file in (("secret", "secret-file"), ("api-token", "api-token-file")):
        if inline in given and from_file in given:
            problems.append(f"{inline}: set together with {from_file}; keep only one")
    if values.get("insecure-no-auth") and ({"secret", "secret-file"} & given):
        problems.append("insecure-no-auth: true together with a secret; remove one of them")
    if values.get("api-trust-loopback") is False and not {"api-token", "api-token-file"} & given:
        problems.append("api-trust-loopback: false without api-token or api-token-file leaves no way "
                        "to make a change; set a token")
    return problems + tls_problems(values, given)


def tls_problems(values: dict[str, Any], given: set[str]) -> list[str]:
    """The API's TLS keys fit together (whether their files load is checked at start, api/tls.py)."""
    pair = {"api-certfile", "api-keyfile"} & given
    if len(pair) == 1:
        (alone,) = pair
        other = ({"api-certfile", "api-keyfile"} - pair).pop()
        return [f"{alone}: set without {other}; set both or neither"]
    if not pair:
        return [f"{key}: set without api-certfile and api-keyfile (the API speaks plain HTTP); "
                "set those too, or remove it" for key in ("api-cafile", "api-verify-client") if key in given]
    verify = values.get("api-verify-client")
    if verify is not None and verify is not VerifyClient.NONE and values.get("api-cafile") is None:
        return [f"api-cafile: missing; api-verify-client {verify.value} checks client certificates "
                "against it (set api-cafile, or api-verify-client: none)"]
    return []
