"""libpq connection strings (primary_conninfo, pg_rewind --source-server) built and read back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """Where a database listens (the leader's, for cloning and streaming)."""

    host: str
    port: int

    def describe(self) -> str:
        return f"{self.host}:{self.port}"


def application_name_for(member_id: int) -> str:
    """The application_name a member's walreceiver uses.

    synchronous_standby_names lists these names, so the leader and every replica must derive
    them the same way from the member id.
    """
    return f"qluster_{member_id}"


def quote_conninfo_value(value: str) -> str:
    """Quote a value for a libpq 'key=value' string: bare when safe, else '...' with escapes."""
    if value and not any(ch in value for ch in " \t\n\r'\\="):
        return value
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def render_conninfo(params: Mapping[str, str | int | None]) -> str:
    """'k1=v1 k2=v2' in the given order; None values are left out."""
    return " ".join(f"{key}={quote_conninfo_value(str(value))}" for key, value in params.items() if value is not None)


def primary_conninfo(
    leader: Endpoint,
    user: str,
    application_name: str,
    *,
    dbname: str | None = None,
    passfile: str | None = None,
    connect_timeout: int = 5,
) -> str:
    """The connection string a standby (or pg_basebackup/pg_rewind) uses to reach the leader.

    TCP keepalives let a walreceiver notice a dead leader within seconds instead of waiting for
    the kernel's two-hour default, so a replica is ready to follow the next leader quickly.
    Passwords are never put here: the string ends up in a config file and in
    pg_stat_wal_receiver; use passfile (a .pgpass) or trust/cert authentication.
    """
    return render_conninfo(
        {
            "host": leader.host,
            "port": leader.port,
            "user": user,
            "dbname": dbname,
            "application_name": application_name,
            "passfile": passfile,
            "connect_timeout": connect_timeout,
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
        }
    )


def parse_conninfo(text: str) -> dict[str, str]:
    """Read a 'key=value key='quoted value'' string back into a dict (libpq's own syntax)."""
    result: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0:
            raise ValueError(f"missing '=' in conninfo at {text[i:]!r}")
        key = text[i:eq].strip()
        i = eq + 1
        while i < n and text[i].isspace():
            i += 1
        value_chars: list[str] = []
        if i < n and text[i] == "'":
            i += 1
            while i < n and text[i] != "'":
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value_chars.append(text[i])
                i += 1
            if i >= n:
                raise ValueError("unterminated quoted value in conninfo")
            i += 1
        else:
            while i < n and not text[i].isspace():
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value_chars.append(text[i])
                i += 1
        result[key] = "".join(value_chars)
    return result


def endpoint_of(conninfo: str) -> Endpoint | None:
    """The host:port a conninfo points to, or None when it names no host."""
    if not conninfo.strip():
        return None
    params = parse_conninfo(conninfo)
    host = params.get("host") or params.get("hostaddr")
    if not host:
        return None
    return Endpoint(host, int(params.get("port", "5432")))
