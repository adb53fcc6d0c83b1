"""A Backend with recorded calls, for testing the HTTP layer alone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from qluster_agent.api.backend import ApiError
from qluster_agent.api.health import NodeHealth

LEADER = NodeHealth(agent_alive=True, pg_running=True, is_leader=True, in_recovery=False,
                    writable=True, streaming=False, lag_bytes=None)
REPLICA = NodeHealth(agent_alive=True, pg_running=True, is_leader=False, in_recovery=True,
                     writable=False, streaming=True, lag_bytes=1000)


class RecordingBackend:
    def __init__(self, health: NodeHealth = LEADER) -> None:
        self.state = health
        self.calls: list[tuple[str, Any]] = []
        self.config = {"node-timeout": "800ms"}

    def health(self) -> NodeHealth:
        return self.state

    def cluster_map(self) -> dict[str, Any]:
        return {"leader": 1, "members": []}

    def get_config(self) -> dict[str, Any]:
        return dict(self.config)

    def update_config(self, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("update_config", body))
        bad = [f"{key}: unknown key" for key in body if key not in self.config]
        if bad:
            raise ApiError(400, "invalid configuration; nothing was changed", bad)
        self.config.update(body)
        return dict(self.config)

    def list_members(self) -> list[dict[str, Any]]:
        return [{"id": 1}]

    def add_member(self, body):
        self.calls.append(("add_member", body))
        return body

    def remove_member(self, member, body):
        self.calls.append(("remove_member", member))
        return {"removed": member}

    def switchover(self, body):
        self.calls.append(("switchover", body))
        return body

    def reinit(self, body):
        self.calls.append(("reinit", body))
        return body

    def pause(self, body):
        self.calls.append(("pause", body))
        return {"message": "paused", "paused": True}

    def resume(self, body):
        self.calls.append(("resume", body))
        return {"message": "resumed", "paused": False}

    def restart(self, body):
        self.calls.append(("restart", body))
        return {"message": "restarted", "member": body.get("member"), "done": True}

    def reload(self, body):
        self.calls.append(("reload", body))
        return {"message": "reloaded", "member": body.get("member"), "done": True}

    def history(self):
        return {"history": [{"at": 1.5, "term": 2, "from": None, "to": 1, "reason": "initial"}]}

    def metrics(self):
        return [("qluster_term", "gauge", "current term", {}, 4),
                ("qluster_transport_events_total", "counter", "events", {"kind": "odd \"kind\""}, 1.0)]


def with_(health: NodeHealth, **changes) -> NodeHealth:
    return replace(health, **changes)
