"""The ClusterState this node has applied: written by the consensus thread, read by any thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..cluster.state import ClusterState, CommandError
from ..config.model import ClusterSettings
from ..raft.types import Entry, EntryType, Snapshot as RaftSnapshot

log = logging.getLogger("qluster")


class ReplicatedState:
    """Applies committed entries and snapshots (ConsensusRuntime's apply and restore) and calls
    `on_settings` with the cluster settings whenever they change, outside its lock."""

    def __init__(self, settings: ClusterSettings, on_settings: Callable[[ClusterSettings], None]) -> None:
        self._initial = settings  # config.yaml's, until a snapshot or an entry says otherwise
        self._on_settings = on_settings
        self._lock = threading.Lock()
        self._state = ClusterState(settings)

    def current(self) -> ClusterState:
        with self._lock:
            return self._state

    def apply(self, entry: Entry) -> None:
        if entry.type is not EntryType.NORMAL or not entry.data:
            return
        with self._lock:
            before = self._state.settings
            try:
                self._state = self._state.apply(entry.data)
            except CommandError as exc:
                log.error("committed entry %d cannot be applied, skipped on every node: %s", entry.index, exc)
                return
            after = self._state.settings
        if after != before:
            self._on_settings(after)

    def restore(self, snapshot: RaftSnapshot) -> None:
        with self._lock:
            self._state = ClusterState.from_snapshot(snapshot.data, self._initial)
            settings = self._state.settings
        self._on_settings(settings)
