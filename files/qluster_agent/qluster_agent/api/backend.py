"""What the API needs from the agent, as a protocol: the HTTP layer knows nothing else."""

from __future__ import annotations

from typing import Any, Protocol

from .health import NodeHealth


class ApiError(Exception):
    """An answer other than success: status code, one-sentence message, optional details."""

    def __init__(self, status: int, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


class Backend(Protocol):
    def health(self) -> NodeHealth:
        ...

    def cluster_map(self) -> dict[str, Any]:
        ...

    def get_config(self) -> dict[str, Any]:
        ...

    def update_config(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate the whole body (ApiError 400 naming every bad key, nothing applied), replicate
        it through consensus, and return the new config."""

    def list_members(self) -> list[dict[str, Any]]:
        ...

    def add_member(self, body: dict[str, Any]) -> dict[str, Any]:
        ...

    def remove_member(self, member: str, body: dict[str, Any]) -> dict[str, Any]:
        ...

    def switchover(self, body: dict[str, Any]) -> dict[str, Any]:
        ...

    def reinit(self, body: dict[str, Any]) -> dict[str, Any]:
        ...

    def pause(self, body: dict[str, Any]) -> dict[str, Any]:
        """Maintenance mode on (replicated): {"message", "paused": true}."""

    def resume(self, body: dict[str, Any]) -> dict[str, Any]:
        """Maintenance mode off (replicated): {"message", "paused": false}."""

    def restart(self, body: dict[str, Any]) -> dict[str, Any]:
        """{"member", "force"}: the member's agent restarts its database (the leader only with force)."""

    def reload(self, body: dict[str, Any]) -> dict[str, Any]:
        """{"member"}: the member's agent reloads its database's configuration."""

    def history(self) -> dict[str, Any]:
        """{"history": [leader changes, oldest first]} from the replicated state."""

    def metrics(self) -> list[tuple[str, str, str, dict[str, str], float]]:
        """(name, type, help, labels, value) rows for the Prometheus text format."""
