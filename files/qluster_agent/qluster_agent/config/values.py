"""Parsers for single values. Each takes the raw YAML/JSON value and returns the typed value or
raises ValueError with a message that quotes the value (the caller prefixes the key path)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .durations import DurationTooLong, format_duration, parse_duration
from .model import MemberRole, UdpEndpoint, VerifyClient

Parser = Callable[[Any], Any]

# Linux limits interface names to 15 bytes (IFNAMSIZ - 1); no slashes or whitespace.
_INTERFACE_NAME = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")
_CLUSTER_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# A role the agent creates and names in connection strings and on command lines: a PostgreSQL
# identifier that needs no quoting anywhere (lower case, at most NAMEDATALEN - 1 = 63 bytes).
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_$]{0,62}")
_RESERVED_ROLES = ("public", "none")  # CREATE ROLE refuses these, and names starting with pg_
ROLE_NAME_RULE = ("1 to 63 characters of a-z, 0-9, _ and $, starting with a letter or _, "
                  "not starting with pg_, not public or none")
FLAVOURS = ("postgresql", "qhb")
MAX_NODE_ID = 2**63 - 1
_SHOWN_CHARS = 40  # a longer bad value is quoted by its start and its length, not echoed whole


def shown(value: Any) -> str:
    """The value as a message quotes it: repr(), shortened when long."""
    text = repr(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[:_SHOWN_CHARS]}... ({len(text)} characters)"


def boolean(value: Any) -> bool:
    # YAML gives real booleans for true/false; strings like "yes" or "1" are refused so a typo
    # in a JSON body ("false" quoted) does not silently mean True.
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not a boolean (use true or false)")
    return value


@dataclass(frozen=True)
class IntegerRange:
    """Parser of an integer key within [minimum, maximum]; the docs show ``range_text``."""

    minimum: int
    maximum: int

    @property
    def range_text(self) -> str:
        return f"{self.minimum}..{self.maximum}"

    def __call__(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is not an integer")
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"{value!r} is out of range {self.range_text}")
        return value


@dataclass(frozen=True)
class DurationRange:
    """Parser of a duration key within [minimum, maximum] seconds (ends included)."""

    minimum: float
    maximum: float

    @property
    def range_text(self) -> str:
        return f"{format_duration(self.minimum)}..{format_duration(self.maximum)}"

    def __call__(self, value: Any) -> float:
        try:
            seconds = parse_duration(value)
        except DurationTooLong:
            seconds = float("inf")  # far beyond any maximum: the same message as any value too long
        if not self.minimum <= seconds <= self.maximum:
            raise ValueError(f"{shown(value)} is out of range {self.range_text}")
        return seconds


def integer(minimum: int, maximum: int) -> IntegerRange:
    return IntegerRange(minimum, maximum)


def duration(minimum: str, maximum: str) -> DurationRange:
    """``duration("100ms", "1m")``: the ends are written as the docs and messages show them."""
    return DurationRange(parse_duration(minimum), parse_duration(maximum))


def string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not a non-empty string")
    return value


def absolute_path(value: Any) -> str:
    path = string(value)
    if not path.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    return path


def node_ipv4(value: Any) -> str:
    """The node's own address: a unicast IPv4 address (the transport is IPv4 only)."""
    try:
        address = ipaddress.IPv4Address(string(value))
    except (ValueError, ipaddress.AddressValueError):
        raise ValueError(f"{value!r} is not an IPv4 address") from None
    if address.is_multicast or address.is_unspecified or str(address) == "255.255.255.255":
        raise ValueError(f"{value!r} is not a unicast IPv4 address")
    return str(address)


def _host_port(value: Any, default_port: int | None) -> UdpEndpoint:
    text = string(value)
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, ""
    if not port_text:
        if default_port is None:
            raise ValueError(f"{value!r} is not host:port")
        port = default_port
    elif port_text.isdigit() and 1 <= int(port_text) <= 65535:
        port = int(port_text)
    else:
        raise ValueError(f"{value!r} has no valid port (1..65535)")
    try:
        address = ipaddress.IPv4Address(host)
    except (ValueError, ipaddress.AddressValueError):
        raise ValueError(f"{value!r} does not start with an IPv4 address") from None
    return UdpEndpoint(str(address), port)


def multicast_group(value: Any) -> UdpEndpoint:
    endpoint = _host_port(value, default_port=None)
    if not ipaddress.IPv4Address(endpoint.host).is_multicast:
        raise ValueError(f"{value!r} is not a multicast address (224.0.0.0/4)")
    return endpoint


def peer_list(value: Any) -> tuple[UdpEndpoint, ...]:
    """``udp.peers``: a list of ``host:port``; the port may be left out (then the group's port)."""
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list of host:port")
    # A port of 0 marks "not given": the loader fills in the group's port once it knows it.
    peers = tuple(_host_port(item, default_port=0) for item in value)
    if len(set(peers)) != len(peers):
        raise ValueError(f"{value!r} lists a peer twice")
    return peers


def interface(value: Any) -> str:
    """An interface name as in the seed (``ens18``) or an IPv4 address of the node."""
    text = string(value)
    try:
        return str(ipaddress.IPv4Address(text))
    except (ValueError, ipaddress.AddressValueError):
        pass
    if not _INTERFACE_NAME.match(text):
        raise ValueError(f"{value!r} is neither an interface name nor an IPv4 address")
    return text


def cluster_id(value: Any) -> str:
    text = string(value)
    if not _CLUSTER_ID.match(text):
        raise ValueError(f"{value!r} must be 1-64 characters of letters, digits, '.', '_' or '-'")
    return text


def role(value: Any) -> MemberRole:
    try:
        return MemberRole(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a role (use voter or observer)") from None


def verify_client(value: Any) -> VerifyClient:
    try:
        return VerifyClient(value)
    except ValueError:
        raise ValueError(f"{shown(value)} is not one of none, optional, required") from None


def secret_text(value: Any) -> str:
    text = string(value)
    if len(text.encode()) < 16:
        raise ValueError("the secret is shorter than 16 bytes")  # never echo a secret
    return text


def flavour(value: Any) -> str:
    """postgres.flavour: which DBMS (pg/flavour.py: file names, binaries, defaults)."""
    if value not in FLAVOURS:
        raise ValueError(f"{value!r} is not postgresql or qhb")
    return value


def role_name(value: Any) -> str:
    """A database role the agent names unquoted (ROLE_NAME_RULE)."""
    if (not isinstance(value, str) or not _ROLE_NAME.fullmatch(value) or value.startswith("pg_")
            or value in _RESERVED_ROLES):
        raise ValueError(f"{shown(value)} is not a role name ({ROLE_NAME_RULE})")
    return value
