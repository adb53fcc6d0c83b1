"""The persisted state as a value, and the one rule for folding a save() into it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from ..raft.types import Entry, HardState, Snapshot


@dataclass
class PersistedState:
    hard_state: HardState = field(default_factory=HardState)
    snapshot: Optional[Snapshot] = None
    entries: List[Entry] = field(default_factory=list)  # contiguous, after snapshot.index

    def base(self) -> int:
        return self.snapshot.index if self.snapshot else 0

    def last_index(self) -> int:
        return self.entries[-1].index if self.entries else self.base()

    def term(self, index: int) -> Optional[int]:
        if self.snapshot is not None and index == self.snapshot.index:
            return self.snapshot.term
        if self.base() < index <= self.last_index():
            return self.entries[index - self.base() - 1].term
        return None

    def as_tuple(self) -> Tuple[HardState, Optional[Snapshot], List[Entry]]:
        return self.hard_state, self.snapshot, list(self.entries)


def snapshot_keeps_log(state: PersistedState, snap: Snapshot) -> bool:
    """True when `snap` compacts our own log (it ends on an entry we hold); False when it
    replaces the log (a leader's snapshot of a log we diverged from or never had)."""
    return state.term(snap.index) == snap.term and snap.index > state.base()


def apply_snapshot(state: PersistedState, snap: Snapshot) -> bool:
    """Fold a snapshot in; returns True when the log was discarded (reset), False when compacted."""
    if state.snapshot is not None and snap.index <= state.snapshot.index:
        return False  # older than what we have: nothing to do
    if snapshot_keeps_log(state, snap):
        state.entries = state.entries[snap.index - state.base():]
        state.snapshot = snap
        return False
    state.snapshot = snap
    state.entries = []
    return True


def apply_entries(state: PersistedState, entries: Sequence[Entry]) -> None:
    """Append, overwriting the tail from entries[0].index (an uncommitted suffix the leader replaced)."""
    fresh = [e for e in entries if e.index > state.base()]  # the rest is compacted, hence committed
    if not fresh:
        return
    first = fresh[0].index
    if first > state.last_index() + 1:
        raise ValueError(f"gap: saving index {first} after {state.last_index()}")
    state.entries = state.entries[:first - state.base() - 1] + fresh


def clone(state: PersistedState) -> PersistedState:
    """A copy that shares the immutable entries."""
    return PersistedState(state.hard_state, state.snapshot, list(state.entries))
