"""Re-initialising this node's database on request (POST /reinit, seed 000 §10).

A request is a replicated entry (ClusterState.reinit_requests: node id -> request id). The node it
names wipes its data directory and clones from the leader's database, once per request: the
request handled last is kept in a file in the agent's state directory, so a restart does not
clone again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..ha.decision import Action, Decision
from ..pg.conninfo import Endpoint
from .views import AgentSnapshot, cluster_view


@dataclass(frozen=True)
class ReinitStep:
    """Re-clone from `source` (the leader's database, node `leader_id`) for `request`."""

    request: str
    source: Endpoint
    leader_id: int
    reason: str

    @property
    def decision(self) -> Decision:
        """What ActionRunner runs; the request counts as handled once it has started."""
        return Decision(Action.REINIT_FROM_LEADER, self.reason, leader=self.source)


class Reinit:
    """The request this node has handled, and whether a newer one is due now."""

    MARKER = "reinit-handled"

    def __init__(self, state_dir: str) -> None:
        self._path = os.path.join(state_dir, self.MARKER)
        self._handled: str | None = None

    def due(self, snap: AgentSnapshot) -> ReinitStep | None:
        """The re-clone to start now, or None: no request for me, handled, or no leader to clone from."""
        request = snap.state.reinit_requests.get(snap.my_id)
        if request is None or request == self._handled or snap.pg is None:
            return None
        if self._handled is None and self._read() == request:
            self._handled = request  # handled before this agent restarted
            return None
        view = cluster_view(snap)
        if view.is_leader or view.leader_endpoint is None:
            return None  # a leader is never re-initialised; a replica waits for a leader to clone from
        return ReinitStep(request, view.leader_endpoint, view.leader_id,
                          f"I am node {snap.my_id}; reinit {request} requested, re-cloning my database "
                          f"from node {view.leader_id}")

    def started(self, step: ReinitStep) -> None:
        """The re-clone for `step` has started: never again for this request."""
        self._handled = step.request
        with open(self._path, "w", encoding="utf-8") as handle:
            handle.write(step.request)

    def _read(self) -> str | None:
        try:
            with open(self._path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError:
            return None
