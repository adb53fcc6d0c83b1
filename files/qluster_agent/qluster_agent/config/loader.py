"""Read config.yaml (seed 000 §6.3) into an AgentConfig, or fail with one line per problem."""

from __future__ import annotations

import copy
import difflib
import ipaddress
import os
from collections.abc import Mapping
from typing import Any

import yaml

from .checks import agent_problems, cluster_problems
from .errors import ConfigError
from .keys import ALL_KEYS, DERIVED, EMPTY_SECTIONS, KEYS_BY_PATH, REQUIRED, SECTIONS
from .model import AgentConfig, ClusterSettings, PostgresSettings, SocketSettings, UdpEndpoint, UdpSettings

DEFAULT_CONFIG_PATH = "/etc/qluster/config.yaml"
DEFAULT_SECRET_FILE = "/etc/qluster/secret"


def config_path_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The path the env file of seed 000 §6.4 gives as CONFIG_PATH, or the seed's default."""
    return (os.environ if environ is None else environ).get("CONFIG_PATH") or DEFAULT_CONFIG_PATH


def load_config(path: str) -> AgentConfig:
    """Parse and validate the file at ``path``; raise ConfigError (one line) on any problem."""
    try:
        with open(path, encoding="utf-8") as stream:
            document = yaml.safe_load(stream)
    except OSError as error:
        raise ConfigError([f"{path}: {error.strerror}"]) from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError([f"{path}: not valid YAML{line}"]) from None
    return parse_config(document)


def parse_config(document: Any) -> AgentConfig:
    """Validate an already-loaded YAML document (a mapping) and build the AgentConfig."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError([f"the file must be a mapping of keys, not {type(document).__name__}"])
    problems: list[str] = []
    raw = _flatten(document, "", problems)
    values: dict[str, Any] = {}
    for spec in ALL_KEYS:
        if spec.path in raw:
            try:
                values[spec.path] = spec.parse(raw[spec.path])
            except ValueError as error:
                problems.append(f"{spec.path}: {error}")
        elif spec.default is REQUIRED:
            problems.append(f"{spec.path}: missing ({spec.doc.rstrip('.')})")
        elif spec.default is not DERIVED:
            values[spec.path] = copy.deepcopy(spec.default)  # never share a mutable default
    problems += cluster_problems(values, tick=values.get("tick-interval"))
    problems += agent_problems(values, set(raw))
    if problems:
        raise ConfigError(problems)
    _derive_defaults(values, given=set(raw))
    return _build(values)


def _flatten(node: dict, prefix: str, problems: list[str]) -> dict[str, Any]:
    """Turn nested sections into {"udp.socket.group": value}; report unknown keys."""
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if not isinstance(key, str):
            problems.append(f"{prefix}{key!r}: keys must be strings")
            continue
        path = prefix + key
        if path in SECTIONS:
            if isinstance(value, dict):
                flat.update(_flatten(value, path + ".", problems))
            elif value is None and path in EMPTY_SECTIONS:
                continue
            else:
                problems.append(f"{path}: {value!r} is not a section (a mapping of keys)")
        elif path in KEYS_BY_PATH:
            flat[path] = value
        else:
            problems.append(f"{path}: unknown key{_did_you_mean(path)}")
    return flat


def _did_you_mean(path: str) -> str:
    # Not the section the key is already in: "postgres.port" is no misspelt "postgres".
    known = list(KEYS_BY_PATH) + [section for section in SECTIONS if not path.startswith(section + ".")]
    # A key in the wrong section ("node-timeout" at top level) is found by its last part.
    name = path.rsplit(".", 1)[-1].replace("_", "-")
    same_name = [candidate for candidate in known if candidate.rsplit(".", 1)[-1] == name]
    close = same_name or difflib.get_close_matches(path.replace("_", "-"), known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _derive_defaults(values: dict[str, Any], given: set[str]) -> None:
    if "node-id" not in values:
        # The IPv4 address as an integer: stable across restarts and unique on one LAN.
        values["node-id"] = int(ipaddress.IPv4Address(values["ip"]))
    if "secret-file" not in values:
        needs_file = "secret" not in given and not values["insecure-no-auth"]
        values["secret-file"] = DEFAULT_SECRET_FILE if needs_file else None
    if "api-trust-loopback" not in values:
        # Today's behaviour for a bare agent (the seed's curl on the node); a token is an opt-out.
        values["api-trust-loopback"] = not {"api-token", "api-token-file"} & given
    group_port = values["udp.socket.group"].port
    values["udp.peers"] = tuple(
        UdpEndpoint(peer.host, peer.port or group_port) for peer in values["udp.peers"]
    )


def _section(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The keys directly under ``prefix`` as dataclass keyword arguments."""
    return {
        path[len(prefix):].replace("-", "_"): value
        for path, value in values.items()
        if path.startswith(prefix) and "." not in path[len(prefix):]
    }


def build_cluster_settings(values: dict[str, Any]) -> ClusterSettings:
    return ClusterSettings(**_section(values, "cluster."))


def _build(values: dict[str, Any]) -> AgentConfig:
    udp = UdpSettings(socket=SocketSettings(**_section(values, "udp.socket.")), **_section(values, "udp."))
    return AgentConfig(udp=udp, cluster=build_cluster_settings(values),
                       postgres=PostgresSettings(**_section(values, "postgres.")), **_section(values, ""))
