"""From the cluster map to HAProxy runtime API commands: pure functions, no I/O.

The pooler host's HAProxy has one backend per route (read-write, read-only); each holds one
server per database node, addressed at the node's database port and health-checked on its
agent's API port (the backend's `option httpchk` names the path: /primary, /replica?lag=).
`plan()` compares what the map says with what HAProxy reports (`show servers state`) and
returns the commands that make them agree.

A new server is added with weight 0, which keeps it out of load balancing while HAProxy 2.x
brings a server leaving maintenance up before its first check; it is then forced down and only
given its weight back when it is already down, so it takes traffic only once its own health
check has passed. A writer can never be routed to a replica in between.

HAProxy's checks alone notice a killed leader only after `fall` timed-out checks (about three
seconds with the role's defaults). The map knows sooner: once the cluster has elected another
leader, the previous one can no longer write (its lease ran out before the election), so
`demote_commands()` takes it out of the read-write backend and closes its sessions at once.
Its own checks bring it back only if it answers /primary again.

The new leader's server is down in that backend (a follower fails /primary) and HAProxy checks
a down server only every `downinter`. The sync asks the new leader's /primary itself, in short
rounds, from the moment the map names it; once it answers 200 (promoted, writable, holding its
lease) `promote_commands()` marks it up at once, the same verdict its next check would give.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..api.map_member import MapMember

# srv_admin_state bit: forced into maintenance from the CLI (or never enabled after `add server`).
ADMIN_FORCED_MAINT = 0x01
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.:-]")


class MapError(ValueError):
    """The agent's map is not usable (not the shape GET /map returns)."""


@dataclass(frozen=True, order=True)
class Member:
    """A database node as HAProxy needs it: where its database and its health checks are."""

    name: str
    address: str
    db_port: int
    api_port: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "db_port": self.db_port, "api_port": self.api_port}


@dataclass(frozen=True)
class Server:
    """One server line of `show servers state` (format 1), the fields planning needs."""

    backend: str
    name: str
    address: str
    port: int
    check_port: int
    admin_state: int
    user_weight: int
    op_state: int = 2  # srv_op_state: 0 stopped (down), 1 starting, 2 running (up), 3 stopping

    @property
    def complete(self) -> bool:
        """Added to the end: out of maintenance and with its weight, so checks decide its state."""
        return not self.admin_state & ADMIN_FORCED_MAINT and self.user_weight > 0


def server_name(member_name: str) -> str:
    """A HAProxy server name from a node's name: letters, digits and `_.:-` only."""
    cleaned = _NAME_CHARS.sub("_", member_name.strip()) or "node"
    return cleaned if cleaned[0].isalnum() else f"n{cleaned}"


def _port(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise MapError(f"{what}: {value!r} is not a TCP port")
    return value


def members_from_map(data: Any) -> tuple[Member, ...] | None:
    """The database nodes of a `GET /map` answer, sorted; None when the map knows no voter yet.

    Only voters count (the observer has no database; a `joining` node is not a member yet).
    A node that is unreachable stays: HAProxy's checks take it out, and it is back in service
    the moment it answers them again. None (rather than an empty tuple) means "this agent does
    not know the cluster yet" - an observer that has not been added - so nothing is removed.
    """
    found = _members_by_id(data)
    return tuple(sorted(found.values())) if found else None


def leader_from_map(data: Any) -> str | None:
    """The server name of the map's leader; None while there is none (or it is not a voter)."""
    found = _members_by_id(data)
    leader = data.get("leader")
    if isinstance(leader, bool) or not isinstance(leader, (int, str)):
        return None
    return found[leader].name if leader in found else None


def member_id(data: Any, key: str) -> int | None:
    """A member id the map names under `key` (`leader`, `switchover_to`); None when null or not an id."""
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def leader_heard_ago(data: Any) -> float | None:
    """Seconds since the agent last heard the map's leader (its row's last_seen_s); None when the
    map names no leader or does not say."""
    leader = member_id(data, "leader")
    rows = data.get("members") if isinstance(data, Mapping) else None
    for row in rows if isinstance(rows, list) else ():
        if isinstance(row, Mapping) and row.get("id") == leader and leader is not None:
            seen = row.get("last_seen_s")
            return float(seen) if isinstance(seen, (int, float)) and not isinstance(seen, bool) and seen >= 0 else None
    return None


def node_timeout_of(data: Any) -> float | None:
    """The cluster's node-timeout the map gives (node_timeout_s); None when it does not (an older agent)."""
    value = data.get("node_timeout_s") if isinstance(data, Mapping) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def _members_by_id(data: Any) -> dict[Any, Member]:
    if not isinstance(data, Mapping) or not isinstance(data.get("members"), list):
        raise MapError("the map has no member list")
    found: dict[str, Member] = {}
    ids: dict[Any, str] = {}
    for entry in data["members"]:
        if not isinstance(entry, Mapping):
            raise MapError(f"a member entry is not an object: {entry!r}")
        row = MapMember.from_json(entry)  # its types are checked below, as far as HAProxy needs them
        if row.voter is not True:
            continue
        if not isinstance(row.address, str) or not row.address:
            raise MapError(f"member {row.id!r} has no address")
        what = f"member {row.name or row.id!r}"
        member = Member(
            name=server_name(str(row.name or row.id)),
            address=row.address,
            db_port=_port(row.db_port, f"{what} db_port"),
            api_port=_port(row.api_port, f"{what} api_port"),
        )
        if member.name in found:  # two hosts with one name: keep both, tell them apart by id
            member = Member(server_name(f"{member.name}-{row.id}"), member.address, member.db_port, member.api_port)
        found[member.name] = member
        ids[row.id] = member.name
    return {node_id: found[name] for node_id, name in ids.items()}


def members_from_json(rows: Any) -> tuple[Member, ...]:
    """Members saved by `Member.to_json` (the state file, the role's seed list)."""
    if not isinstance(rows, list):
        raise MapError("the member list is not a list")
    members = []
    for row in rows:
        if not isinstance(row, Mapping) or not isinstance(row.get("address"), str) or not row.get("name"):
            raise MapError(f"not a member: {row!r}")
        members.append(Member(server_name(str(row["name"])), row["address"],
                              _port(row.get("db_port"), f"{row['name']} db_port"),
                              _port(row.get("api_port"), f"{row['name']} api_port")))
    return tuple(sorted(members))


def parse_servers_state(text: str) -> list[Server]:
    """The servers of a `show servers state` answer (format version 1)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].strip() != "1":
        raise ValueError(f"unexpected answer to show servers state: {text[:200]!r}")
    header: list[str] = []
    servers = []
    for line in lines[1:]:
        if line.startswith("#"):
            header = line.lstrip("#").split()
            continue
        if not header:
            raise ValueError("show servers state: data before the header")
        fields = dict(zip(header, line.split()))
        servers.append(Server(
            backend=fields["be_name"], name=fields["srv_name"], address=fields["srv_addr"],
            port=int(fields["srv_port"]), check_port=int(fields.get("srv_check_port", "0")),
            admin_state=int(fields["srv_admin_state"]), user_weight=int(fields["srv_uweight"]),
            op_state=int(fields.get("srv_op_state", "2"))))
    return servers


def _matches(server: Server, member: Member) -> bool:
    return (server.address, server.port, server.check_port) == (member.address, member.db_port, member.api_port)


def add_commands(backend: str, member: Member, server_options: str) -> list[str]:
    ref = f"{backend}/{member.name}"
    return [
        f"add server {ref} {member.address}:{member.db_port} {server_options} port {member.api_port} weight 0",
        f"enable health {ref}",
        f"enable server {ref}",
        # Leaving maintenance brings it up before any check; down first, then its weight.
        f"set server {ref} health down",
        f"set weight {ref} 1",
    ]


def remove_commands(backend: str, name: str) -> list[str]:
    ref = f"{backend}/{name}"
    return [f"set server {ref} state maint", f"shutdown sessions server {ref}", f"del server {ref}"]


def demote_commands(backend: str, name: str) -> list[str]:
    """Take a server that stopped being the leader out of the read-write backend now: marked down
    (its checks bring it back up only if it answers /primary again) and its sessions closed."""
    ref = f"{backend}/{name}"
    return [f"set server {ref} health down", f"shutdown sessions server {ref}"]


def promote_commands(backend: str, name: str) -> list[str]:
    """Mark the new leader's server up now: its /primary has just answered 200."""
    return [f"set server {backend}/{name} health up"]


@dataclass(frozen=True)
class Step:
    """The commands for one server, and the sentence that says why."""

    reason: str
    commands: tuple[str, ...]


def plan(backend: str, members: Iterable[Member], servers: Iterable[Server], server_options: str) -> list[Step]:
    """What to do so `backend` holds exactly one complete server per member.

    Removals come first (a changed address is a removal and an addition under the same name).
    """
    wanted = {m.name: m for m in members}
    present = {s.name: s for s in servers if s.backend == backend}
    steps = []
    for name, server in sorted(present.items()):
        member = wanted.get(name)
        if member is None:
            steps.append(Step(f"{backend}/{name} ({server.address}:{server.port}) is no longer in the cluster; removing it",
                              tuple(remove_commands(backend, name))))
        elif not _matches(server, member):
            steps.append(Step(
                f"{backend}/{name} moved from {server.address}:{server.port} (checks on {server.check_port}) to "
                f"{member.address}:{member.db_port} (checks on {member.api_port}); replacing it",
                tuple(remove_commands(backend, name) + add_commands(backend, member, server_options))))
        elif not server.complete:
            steps.append(Step(f"{backend}/{name} was left half-added (in maintenance or without weight); adding it again",
                              tuple(remove_commands(backend, name) + add_commands(backend, member, server_options))))
    for name, member in sorted(wanted.items()):
        if name not in present:
            steps.append(Step(f"{backend}/{name} ({member.address}:{member.db_port}) joined the cluster; adding it",
                              tuple(add_commands(backend, member, server_options))))
    return steps
