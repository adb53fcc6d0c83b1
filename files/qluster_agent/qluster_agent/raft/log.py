"""The replicated log as the core sees it: a snapshot (the compacted prefix) plus the entries after it.

The whole uncompacted log lives in memory; compaction keeps it bounded (see CoreConfig.snapshot_threshold).
`stable` is the last index known to be on disk: entries after it go into the next Ready.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from .types import ConfState, Entry, EntryType, Snapshot


class LogInvariantError(AssertionError):
    """The core was asked to do something that would break Raft's safety (a bug, not bad input)."""


class RaftLog:
    def __init__(self, snapshot: Snapshot, entries: Sequence[Entry], commit: int) -> None:
        self.snapshot = snapshot
        self.entries: List[Entry] = [e for e in entries if e.index > snapshot.index]
        for offset, entry in enumerate(self.entries):
            if entry.index != snapshot.index + 1 + offset:
                raise LogInvariantError(f"log has a gap at index {entry.index}")
        self.committed = min(max(commit, snapshot.index), self.last_index())
        self.applied = snapshot.index  # the layer above re-applies from its snapshot on restart
        self.stable = self.last_index()
        self.pending_snapshot: Optional[Snapshot] = None  # to be persisted
        self.snapshot_is_remote = False  # the layer above must load pending_snapshot.data
        self.conf_dirty = False  # a conf change was appended or truncated away: recompute membership

    # ---- reading
    def first_index(self) -> int:
        return self.snapshot.index + 1

    def last_index(self) -> int:
        return self.entries[-1].index if self.entries else self.snapshot.index

    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.snapshot.term

    def term(self, index: int) -> Optional[int]:
        """Term of the entry at `index`; None when compacted away or beyond the end."""
        if index == self.snapshot.index:
            return self.snapshot.term
        if self.snapshot.index < index <= self.last_index():
            return self.entries[index - self.snapshot.index - 1].term
        return None

    def entry(self, index: int) -> Entry:
        return self.entries[index - self.snapshot.index - 1]

    def match_term(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Raft's election restriction: the candidate's log is at least as up to date as ours."""
        return last_term > self.last_term() or (last_term == self.last_term() and last_index >= self.last_index())

    def slice(self, lo: int, max_entries: int, max_bytes: int) -> Tuple[Entry, ...]:
        """Entries from `lo` on, at most max_entries and (softly) max_bytes; always one if any."""
        out: List[Entry] = []
        size = 0
        for index in range(lo, self.last_index() + 1):
            entry = self.entry(index)
            size += len(entry.data) + 32
            if out and (len(out) >= max_entries or size > max_bytes):
                break
            out.append(entry)
        return tuple(out)

    def find_conflict_by_term(self, index: int, term: int) -> Tuple[int, int]:
        """The largest (i, term(i)) with i <= index and term(i) <= term: where a probe should resume.

        This is the "fast log repair" step: one round trip skips a whole term of divergent entries.
        """
        index = min(index, self.last_index())
        if index < self.snapshot.index:
            return index, 0  # compacted: term unknown, the caller falls back to a snapshot
        while index > self.snapshot.index:
            t = self.term(index)
            if t is not None and t <= term:
                return index, t
            index -= 1
        return self.snapshot.index, self.snapshot.term

    def unstable_entries(self) -> Tuple[Entry, ...]:
        if self.stable >= self.last_index():
            return ()
        return tuple(self.entries[self.stable - self.snapshot.index:])

    def committed_to_apply(self) -> Tuple[Entry, ...]:
        lo = max(self.applied, self.snapshot.index) + 1
        hi = self.committed
        if hi < lo:
            return ()
        return tuple(self.entries[lo - self.snapshot.index - 1: hi - self.snapshot.index])

    # ---- writing
    def append(self, entries: Sequence[Entry]) -> None:
        """Append after the last entry, or overwrite an uncommitted suffix (entries[0] decides where)."""
        if not entries:
            return
        first = entries[0].index
        if first <= self.committed:
            raise LogInvariantError(f"overwriting committed index {first} (committed={self.committed})")
        if first > self.last_index() + 1:
            raise LogInvariantError(f"gap: appending {first} after {self.last_index()}")
        removed = self.entries[first - self.snapshot.index - 1:]
        del self.entries[first - self.snapshot.index - 1:]
        self.stable = min(self.stable, first - 1)
        self.entries.extend(entries)
        if any(e.type == EntryType.CONF_CHANGE for e in list(removed) + list(entries)):
            self.conf_dirty = True

    def maybe_append(self, prev_index: int, prev_term: int, commit: int,
                     entries: Sequence[Entry]) -> Optional[int]:
        """Follower side of App: None when (prev_index, prev_term) does not match, else the last new index."""
        if not self.match_term(prev_index, prev_term):
            return None
        new_last = prev_index + len(entries)
        conflict = self._find_conflict(entries)
        if conflict:
            self.append([e for e in entries if e.index >= conflict])
        self.commit_to(min(commit, new_last))
        return new_last

    def _find_conflict(self, entries: Sequence[Entry]) -> int:
        """Index of the first entry that is new or differs in term, 0 if we hold them all."""
        for entry in entries:
            if entry.index <= self.snapshot.index:
                continue  # compacted, hence committed, hence identical
            if not self.match_term(entry.index, entry.term):
                return entry.index
        return 0

    def commit_to(self, index: int) -> bool:
        index = min(index, self.last_index())
        if index <= self.committed:
            return False
        self.committed = index
        return True

    def stable_to(self, index: int, term: int) -> None:
        # only if the entry is still the one that was persisted (not overwritten meanwhile)
        if self.match_term(index, term) and index > self.stable:
            self.stable = index

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the whole log by a leader's snapshot (our log does not contain its last entry)."""
        self.snapshot = snapshot
        self.entries = []
        self.committed = snapshot.index
        self.stable = snapshot.index
        self.pending_snapshot = snapshot
        self.snapshot_is_remote = True

    def compact(self, index: int, conf: ConfState, data: bytes) -> Snapshot:
        """Drop entries up to `index` (already applied) behind a snapshot of the layer above."""
        if not (self.snapshot.index < index <= self.applied):
            raise LogInvariantError(f"cannot compact to {index}: snapshot={self.snapshot.index} "
                                    f"applied={self.applied}")
        term = self.term(index)
        assert term is not None
        snap = Snapshot(index, term, conf, data)
        self.entries = self.entries[index - self.snapshot.index:]
        self.snapshot = snap
        self.stable = max(self.stable, index)
        self.pending_snapshot = snap
        self.snapshot_is_remote = False
        return snap
