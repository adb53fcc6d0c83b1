"""DiskStorage: term, vote, log and snapshot on disk, surviving a crash at any point.

Layout of the directory:
    hardstate                       one checksummed record (term, vote, commit)
    snapshot                        one checksummed record (log epoch + snapshot)
    log-<epoch>-<seq>.seg           append-only checksummed entry records

Rules that make a crash harmless:
  * hardstate and snapshot are replaced atomically: write a temp file, fsync it, rename it over
    the old one, fsync the directory.  A crash leaves the old or the new file, never a mix;
    leftover *.tmp files are removed on load.
  * log records are only appended.  A record whose index is <= the previous one overwrites the
    log from there (the leader replaced an uncommitted tail), so no file is ever rewritten.
    A torn or corrupt record ends the log: it was being written when the node crashed, so the
    fsync that would have let anybody rely on it had not returned.  Load truncates it away.
  * a snapshot that replaces the log (a leader's snapshot we could not match) bumps the epoch
    stored inside the snapshot file; segments of older epochs are ignored and deleted.  The
    rename of the snapshot file is thus the single atomic switch from the old log to the new.
  * a snapshot that compacts our own log keeps the epoch; segments that hold only entries up to
    the snapshot index are deleted, which keeps the directory bounded.
"""
from __future__ import annotations

import os
import re
from typing import BinaryIO, Dict, List, Optional, Sequence, Tuple

from ..raft.types import Entry, HardState, Snapshot
from .records import (CorruptRecord, decode_entry, decode_hard_state, decode_snapshot_file, encode_entry,
                      encode_hard_state, encode_snapshot_file, frame, read_frames, unframe)
from .state import PersistedState, apply_entries, apply_snapshot

_SEGMENT = re.compile(r"^log-(\d{8})-(\d{8})\.seg$")
HARD_STATE_FILE = "hardstate"
SNAPSHOT_FILE = "snapshot"


class StorageError(Exception):
    """The directory holds state that cannot be trusted (not a torn tail: real corruption)."""


class DiskStorage:
    def __init__(self, directory: str, segment_bytes: int = 4 << 20) -> None:
        # Constructors do no I/O: load() opens the directory.
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._state = PersistedState()
        self._epoch = 0
        self._segments: Dict[Tuple[int, int], int] = {}  # (epoch, seq) -> highest index in it
        self._current: Optional[BinaryIO] = None
        self._current_key: Tuple[int, int] = (0, 0)
        self._loaded = False

    # ---- reading
    def load(self) -> Tuple[HardState, Optional[Snapshot], List[Entry]]:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self.close()
        for name in os.listdir(self.directory):
            if name.endswith(".tmp"):
                os.unlink(self._path(name))
        state = PersistedState()
        self._epoch = 0
        hs_bytes = self._read(HARD_STATE_FILE)
        if hs_bytes is not None:
            state.hard_state = self._decode(decode_hard_state, hs_bytes, HARD_STATE_FILE)
        snap_bytes = self._read(SNAPSHOT_FILE)
        if snap_bytes is not None:
            self._epoch, state.snapshot = self._decode(decode_snapshot_file, snap_bytes, SNAPSHOT_FILE)
        self._segments = {}
        self._replay_segments(state)
        self._state = state
        self._loaded = True
        return state.as_tuple()

    def _replay_segments(self, state: PersistedState) -> None:
        """Rebuild the log from the segments, in the order the records were written.

        Records at or below the snapshot index are replayed too: one written after a higher
        record truncated the log there, and that must still cut the entries that followed.
        """
        log: List[Entry] = []
        torn = False
        for key in sorted(self._list_segments()):
            path = self._segment_path(key)
            if torn or key[0] != self._epoch:
                os.unlink(path)  # after a torn record, or from a log a snapshot replaced
                continue
            with open(path, "rb") as f:
                data = f.read()
            valid = 0
            highest = 0
            for end, payload in read_frames(data):
                entry = decode_entry(payload)
                if log and entry.index > log[-1].index + 1:
                    break  # a gap cannot come from save(); treat it like a torn tail
                if log and entry.index >= log[0].index:
                    del log[entry.index - log[0].index:]
                else:
                    log = []
                log.append(entry)
                highest = max(highest, entry.index)
                valid = end
            if valid < len(data):
                torn = True
                with open(path, "r+b") as f:
                    f.truncate(valid)
                    os.fsync(f.fileno())
            self._segments[key] = highest
        apply_entries(state, [e for e in log if e.index > state.base()] if self._connects(log, state) else [])
        self._current_key = max(self._segments) if self._segments else (self._epoch, 0)
        self._fsync_dir()

    @staticmethod
    def _connects(log: List[Entry], state: PersistedState) -> bool:
        """The replayed entries continue right after the snapshot (or there are none past it)."""
        after = [e for e in log if e.index > state.base()]
        return not after or after[0].index == state.base() + 1

    # ---- writing
    def save(self, hard_state: Optional[HardState], entries: Sequence[Entry],
             snapshot: Optional[Snapshot], sync: bool) -> None:
        """Persist one Ready: snapshot, then entries, then hard state; fsync all when sync."""
        if not self._loaded:
            raise RuntimeError("call load() before save()")
        if snapshot is not None:
            self._save_snapshot(snapshot, sync)
        if entries:
            self._append(entries, sync)
        if hard_state is not None:
            self._state.hard_state = hard_state
            self._replace_file(HARD_STATE_FILE, frame(encode_hard_state(hard_state)), sync)

    def _save_snapshot(self, snap: Snapshot, sync: bool) -> None:
        if self._state.snapshot is not None and snap.index <= self._state.snapshot.index:
            return
        reset = apply_snapshot(self._state, snap)
        if reset:
            self._epoch += 1
        self._replace_file(SNAPSHOT_FILE, frame(encode_snapshot_file(self._epoch, snap)), True)
        self._close_current()
        # Start a fresh segment so that every older one becomes deletable once covered.
        self._current_key = (self._epoch, self._current_key[1] + 1)
        for key, highest in list(self._segments.items()):
            if key[0] != self._epoch or highest <= snap.index:
                os.unlink(self._segment_path(key))
                del self._segments[key]
        self._fsync_dir()

    def _append(self, entries: Sequence[Entry], sync: bool) -> None:
        apply_entries(self._state, entries)
        f = self._segment_for_append()
        for entry in entries:
            if entry.index > self._state.base():
                f.write(frame(encode_entry(entry)))
        f.flush()
        key = self._current_key
        self._segments[key] = max(self._segments.get(key, 0), entries[-1].index)
        if sync:
            os.fsync(f.fileno())
        if f.tell() >= self.segment_bytes:
            self._close_current()
            self._current_key = (self._epoch, key[1] + 1)

    def _segment_for_append(self) -> BinaryIO:
        if self._current is None:
            path = self._segment_path(self._current_key)
            existed = os.path.exists(path)
            self._current = open(path, "ab")
            if not existed:
                self._fsync_dir()
        return self._current

    # ---- files
    def _replace_file(self, name: str, data: bytes, sync: bool) -> None:
        tmp = self._path(name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, self._path(name))
        if sync:
            self._fsync_dir()

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _read(self, name: str) -> Optional[bytes]:
        try:
            with open(self._path(name), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def _decode(self, decoder, data: bytes, name: str):  # type: ignore[no-untyped-def]
        try:
            return decoder(unframe(data))
        except CorruptRecord as exc:
            # Written atomically, so damage here is not a crash artefact: refuse to guess a vote.
            raise StorageError(f"{self._path(name)}: {exc}") from None

    def _list_segments(self) -> List[Tuple[int, int]]:
        keys = []
        for name in os.listdir(self.directory):
            match = _SEGMENT.match(name)
            if match:
                keys.append((int(match.group(1)), int(match.group(2))))
        return keys

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _segment_path(self, key: Tuple[int, int]) -> str:
        return self._path(f"log-{key[0]:08d}-{key[1]:08d}.seg")

    def _close_current(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None

    def close(self) -> None:
        self._close_current()

    def stats(self) -> Dict[str, int]:
        """Numbers for the status API: how big the log is on disk."""
        return {"segments": len(self._segments), "entries": len(self._state.entries),
                "first_index": self._state.base() + 1, "last_index": self._state.last_index()}
