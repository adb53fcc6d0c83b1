"""The replicated state machine: what every node agrees on besides membership itself.

Membership (who votes, who observes) lives in the consensus core's configuration. This state
holds what the layer above needs about the members and the cluster: each member's name and
addresses, the runtime settings of POST /config, pending operator requests (reinit), whether the
cluster is paused (maintenance mode: POST /pause, /resume) and the history of leader changes. It is
changed only by applying committed commands, in log order, so every node holds the same value.
Commands and snapshots are JSON: they are small and an operator can read them in a dump.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from ..config.model import ClusterSettings
from ..config.runtime import cluster_settings_to_json, validate_cluster_update

log = logging.getLogger("qluster")


# The leader changes kept in the replicated state (GET /history): the latest ones only.
HISTORY_LIMIT = 100
# Why leadership changed (LeaderChange.reason).
REASONS = ("initial", "switchover", "failover", "manual")


class CommandError(ValueError):
    """A committed command that cannot be applied; every node rejects it the same way."""


@dataclass(frozen=True)
class MemberInfo:
    id: int
    name: str
    address: str
    api_port: int
    db_port: int | None  # None for an observer (no database)
    observer: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "address": self.address, "api_port": self.api_port,
                "db_port": self.db_port, "observer": self.observer}

    @staticmethod
    def from_json(data: dict[str, Any]) -> "MemberInfo":
        return MemberInfo(int(data["id"]), str(data["name"]), str(data["address"]), int(data["api_port"]),
                          None if data.get("db_port") is None else int(data["db_port"]),
                          bool(data.get("observer", False)))


@dataclass(frozen=True)
class LeaderChange:
    """One leader change, recorded by the new leader: when (its wall clock, seconds since the
    epoch), in which term, from whom (None: no earlier leader recorded) to whom, and why."""

    at: float
    term: int
    from_id: int | None
    to_id: int
    reason: str  # one of REASONS

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "term": self.term, "from": self.from_id, "to": self.to_id, "reason": self.reason}

    @staticmethod
    def from_json(data: dict[str, Any]) -> "LeaderChange":
        reason = str(data["reason"])
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        return LeaderChange(float(data["at"]), int(data["term"]),
                            None if data.get("from") is None else int(data["from"]), int(data["to"]), reason)


@dataclass(frozen=True)
class ClusterState:
    settings: ClusterSettings
    members: dict[int, MemberInfo] = field(default_factory=dict, hash=False)
    # member id -> request id of the latest reinit asked for it; the member acts once per id.
    reinit_requests: dict[int, str] = field(default_factory=dict, hash=False)
    # Members removed on purpose: a removed node whose agent still runs keeps announcing itself,
    # and must not be taken back in automatically. An explicit add (cmd_member) lifts this.
    removed: frozenset[int] = frozenset()
    # The system identifier of the cluster's database, recorded by the leader once it runs. Set,
    # it forbids initdb for good: a leader with an empty data directory must not start a second,
    # different database that the members holding the real one would then be re-cloned from.
    database_system: int | None = None
    # Maintenance mode: the HA loops leave every database as it is (ha/decide.py, docs/agent.md).
    paused: bool = False
    # The latest leader changes, oldest first, at most HISTORY_LIMIT.
    history: tuple[LeaderChange, ...] = ()

    # --- commands --------------------------------------------------------------------------
    @staticmethod
    def cmd_settings(settings: ClusterSettings) -> bytes:
        return _encode({"op": "settings", "settings": cluster_settings_to_json(settings)})

    @staticmethod
    def cmd_member(info: MemberInfo) -> bytes:
        return _encode({"op": "member", "member": info.to_json()})

    @staticmethod
    def cmd_forget(member_id: int) -> bytes:
        return _encode({"op": "forget", "id": member_id})

    @staticmethod
    def cmd_reinit(member_id: int, request_id: str) -> bytes:
        return _encode({"op": "reinit", "id": member_id, "request": request_id})

    @staticmethod
    def cmd_database(system_identifier: int) -> bytes:
        return _encode({"op": "database", "system": system_identifier})

    @staticmethod
    def cmd_pause(paused: bool) -> bytes:
        return _encode({"op": "pause", "paused": paused})

    @staticmethod
    def cmd_leader_change(change: LeaderChange) -> bytes:
        return _encode({"op": "leader", "change": change.to_json()})

    def apply(self, command: bytes) -> "ClusterState":
        try:
            data = json.loads(command)
            op = data["op"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CommandError(f"unreadable command: {exc}") from None
        if op == "settings":
            settings, problems = validate_cluster_update(data.get("settings"), self.settings)
            if settings is None:
                raise CommandError("; ".join(problems))
            return replace(self, settings=settings)
        if op == "member":
            info = MemberInfo.from_json(data["member"])
            return replace(self, members={**self.members, info.id: info}, removed=self.removed - {info.id})
        if op == "forget":
            members = {k: v for k, v in self.members.items() if k != int(data["id"])}
            reinits = {k: v for k, v in self.reinit_requests.items() if k != int(data["id"])}
            return replace(self, members=members, reinit_requests=reinits, removed=self.removed | {int(data["id"])})
        if op == "reinit":
            return replace(self, reinit_requests={**self.reinit_requests, int(data["id"]): str(data["request"])})
        if op == "database":
            return replace(self, database_system=int(data["system"]))
        if op == "pause":
            if not isinstance(data.get("paused"), bool):
                raise CommandError("pause: 'paused' must be true or false")
            return replace(self, paused=data["paused"])
        if op == "leader":
            try:
                change = LeaderChange.from_json(data["change"])
            except (KeyError, TypeError, ValueError) as exc:
                raise CommandError(f"leader change: {exc}") from None
            if self.history and change.term <= self.history[-1].term:
                return self  # recorded already (a leader proposes once per term; a retry adds nothing)
            return replace(self, history=(*self.history, change)[-HISTORY_LIMIT:])
        raise CommandError(f"unknown command {op!r}")

    # --- snapshots -------------------------------------------------------------------------
    def to_snapshot(self) -> bytes:
        return _encode({
            "settings": cluster_settings_to_json(self.settings),
            "members": [m.to_json() for m in sorted(self.members.values(), key=lambda m: m.id)],
            "reinit_requests": {str(k): v for k, v in self.reinit_requests.items()},
            "removed": sorted(self.removed),
            "database_system": self.database_system,
            "paused": self.paused,
            "history": [change.to_json() for change in self.history],
        })

    @staticmethod
    def from_snapshot(data: bytes, defaults: ClusterSettings) -> "ClusterState":
        if not data:
            return ClusterState(defaults)
        raw = json.loads(data)
        settings = _settings_kept(raw.get("settings", {}), defaults)
        members = {int(m["id"]): MemberInfo.from_json(m) for m in raw.get("members", [])}
        reinits = {int(k): str(v) for k, v in raw.get("reinit_requests", {}).items()}
        system = raw.get("database_system")
        history = tuple(LeaderChange.from_json(change) for change in raw.get("history", []))[-HISTORY_LIMIT:]
        return ClusterState(settings, members, reinits, frozenset(int(i) for i in raw.get("removed", [])),
                            None if system is None else int(system), bool(raw.get("paused", False)), history)


def _settings_kept(stored: Any, defaults: ClusterSettings) -> ClusterSettings:
    """The settings of a snapshot, each value outside today's bounds replaced by its default.

    A snapshot written before the bounds existed may hold a value they refuse (an unbounded
    node-timeout that switched failover off): the node must still start and rejoin, so such a
    value is dropped with a log line instead of failing the restore.
    """
    settings, problems = validate_cluster_update(stored, defaults)
    if settings is not None:
        return settings
    kept: dict[str, Any] = {}
    for name, value in (stored.items() if isinstance(stored, dict) else ()):
        if validate_cluster_update({**kept, name: value}, defaults)[0] is not None:
            kept[name] = value
    log.error("the snapshot's cluster settings are out of bounds (%s); the defaults of config.yaml stand "
              "for those keys, POST /config to set them again", "; ".join(problems))
    return validate_cluster_update(kept, defaults)[0] or defaults


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
