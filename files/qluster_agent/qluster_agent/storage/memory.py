"""MemoryStorage: DiskStorage's contract in memory, with fsync semantics for crash tests.

Only what was saved with sync=True (and everything before it) survives crash().
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from ..raft.types import Entry, HardState, Snapshot
from .state import PersistedState, apply_entries, apply_snapshot, clone


class MemoryStorage:
    def __init__(self) -> None:
        self._current = PersistedState()
        self._durable = PersistedState()

    def load(self) -> Tuple[HardState, Optional[Snapshot], List[Entry]]:
        return self._current.as_tuple()

    def save(self, hard_state: Optional[HardState], entries: Sequence[Entry],
             snapshot: Optional[Snapshot], sync: bool) -> None:
        if snapshot is not None:
            apply_snapshot(self._current, snapshot)
        apply_entries(self._current, entries)
        if hard_state is not None:
            self._current.hard_state = hard_state
        if sync:
            self._durable = clone(self._current)

    def crash(self) -> None:
        """Forget everything written since the last sync, like a power cut."""
        self._current = clone(self._durable)

    def close(self) -> None:
        pass
