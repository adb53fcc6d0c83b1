"""The WAL position a node votes with, as the one unsigned 64-bit number the consensus carries.

Histories that forked are ordered by timeline first (a node left on timeline 1 may hold WAL
past the point where timeline 2 began, yet timeline 2 is the cluster's history), then by LSN.
Packing the timeline into the top 16 bits and the LSN into the low 48 keeps that order under
plain integer comparison: 65535 timelines and 256 TiB of WAL per timeline.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from ..pg.files import FileWriter
from ..pg.status import DataDirState, PgStatus, WalMark

log = logging.getLogger(__name__)

# A position just past a WAL page header holds nothing more than the page's start: a primary's
# write position and pg_control's checkpoint location sit there, while a standby reports the
# page start it has received. Counting them equal keeps a caught-up standby from losing a vote
# by a header's length.
XLOG_BLCKSZ = 8192
PAGE_HEADER_SIZES = (24, 40)  # short header; long header at the start of a segment

LSN_BITS = 48
LSN_MAX = (1 << LSN_BITS) - 1
TIMELINE_MAX = (1 << 16) - 1


def vote_context(mark: WalMark | None) -> int:
    """0 when nothing is known: an unknown position loses to any known one."""
    if mark is None:
        return 0
    lsn = mark.lsn
    if lsn % XLOG_BLCKSZ in PAGE_HEADER_SIZES:
        lsn -= lsn % XLOG_BLCKSZ
    return (min(mark.timeline, TIMELINE_MAX) << LSN_BITS) | min(lsn, LSN_MAX)


def context_to_answer(kept: int, last: PgStatus | None, read_now: Callable[[], int | None],
                      receiving_now: Callable[[], bool] = lambda: True, stopped_since_read: bool = False,
                      held_data: bool = False) -> int | None:
    """The context to answer a (pre-)vote with now, or None: abstain, do not answer.

    `kept` is what the HA loop last set, `last` the database status its last cycle read,
    `read_now` reads the running server's WAL position (None when it does not answer), and
    `receiving_now` tells whether the server has a walreceiver now, and `stopped_since_read`
    whether the server has stayed stopped since a cycle last read its end of WAL from disk into
    `kept` (StoppedSinceRead), and `held_data` whether this node's database ever held data (a
    marker in the agent's state, HeldDataMarker). A position is only raised by the live read, on
    the timeline already known.

    Without a position this node can stand by, it abstains: before its first cycle after a start
    (every node restarting at once would otherwise vote with 0 for whoever asks first), with a
    data directory that is neither empty nor readable, and when the database does not answer
    unless the last cycle found it stopped and read its end of WAL from disk (a stopped server's
    WAL does not move; a data directory deleted under a primary that went on committing, or a
    server that stopped answering, may have gone further than `kept`). A standby that takes no
    query because it is not yet consistent stands by the end of WAL the last cycle read from its
    disk, as long as it still has no walreceiver: nothing can arrive, so it confirmed nothing
    more. (Abstaining there too left a cluster without a quorum when the leader's data was
    wiped while such a standby waited for WAL only the leader had.) And a server that has stayed
    stopped since its end of WAL was read stands by that, whatever happened to its files since:
    a rewind or re-clone that failed half-way, or a data directory deleted while it was stopped,
    holds nothing it confirmed after `kept`. An empty data directory votes with nothing (for
    anyone) only on a node that never held data: one whose data was lost may have confirmed
    commits no other voter has, and its agent restarting does not change that.
    """
    if last is None:
        return None
    if not kept:
        return 0 if last.datadir is DataDirState.EMPTY and not held_data else None
    lsn = read_now()
    if lsn is not None:
        return max(kept, vote_context(WalMark(kept >> LSN_BITS, lsn)))
    if last.wal_end_lsn is not None and last.datadir is DataDirState.VALID:
        if not last.running or not receiving_now():
            return kept
    if not last.running and stopped_since_read:
        return kept
    return None


def stands_by_no_position(kept: int, last: PgStatus, stopped_since_read: bool = False, held_data: bool = False) -> bool:
    """True when, as the HA loop last read it, this node has no position it can stand by without
    asking its server again: it would abstain, so it must campaign with none (0) either."""
    return context_to_answer(kept, last, lambda: None, stopped_since_read=stopped_since_read,
                             held_data=held_data) is None


class StoppedSinceRead:
    """Whether the server has stayed stopped since a cycle read its end of WAL from disk, and
    the position that read gave.

    Set by a status of a stopped server with its end of WAL read; kept while every later status
    finds it stopped with the same pg_control, or with none at all (a data directory being
    emptied, copied into or left by a failed rewind cannot have run); dropped when the server is
    seen running or pg_control changes (a start writes it, so a server that ran between two
    cycles shows too). Saved in the agent's state directory, so an agent restarted while its
    data directory is unreadable still knows where its WAL ended (else it abstains, and two such
    nodes leave the third without a quorum: seen when two rewinds failed at once).
    """

    NAME = "stopped-position"

    def __init__(self, state_dir: str | None = None) -> None:
        self._path = Path(state_dir) / self.NAME if state_dir else None
        self._control: tuple | None = None
        self.context = 0
        self._load()

    @property
    def holds(self) -> bool:
        return self._control is not None

    def observe(self, pg: PgStatus, kept: int) -> None:
        control = (pg.system_identifier, pg.checkpoint_lsn, pg.control_state.value if pg.control_state else None)
        if pg.running:
            self._set(None, 0)
        elif pg.wal_end_lsn is not None and pg.datadir is DataDirState.VALID:
            self._set(control, kept)
        elif self._control is not None and pg.checkpoint_lsn is not None and control != self._control:
            self._set(None, 0)

    def _set(self, control: tuple | None, context: int) -> None:
        if (control, context) == (self._control, self.context):
            return
        self._control, self.context = control, context
        if self._path is None:
            return
        try:
            if control is None:
                self._path.unlink(missing_ok=True)
                return
            FileWriter().write_text(self._path, json.dumps({"context": context, "control": list(control)}))
        except OSError as exc:
            log.warning("cannot keep %s (a restart would then abstain until the WAL reads again): %s", self._path, exc)

    def _load(self) -> None:
        if self._path is None or not self._path.exists():
            return
        try:
            saved = json.loads(self._path.read_text(encoding="utf-8"))
            self._control, self.context = tuple(saved["control"]), int(saved["context"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring %s: %s", self._path, exc)
            self._control, self.context = None, 0


class HeldDataMarker:
    """A file in the agent's state directory saying this node's database has held data.

    Written (and synced) the first time a cycle finds a valid data directory; emptied with the
    rest of the agent's state by a cluster reinitialisation. Without it, a node whose data was
    deleted would, after its agent restarts, vote as a brand-new node does: for any candidate.
    """

    NAME = "held-data"

    def __init__(self, state_dir: str) -> None:
        self._path = Path(state_dir) / self.NAME
        self.present = self._path.exists()
        self._failed = False

    def note(self, pg: PgStatus) -> None:
        if self.present or pg.datadir is not DataDirState.VALID or pg.wal_mark is None:
            return
        try:
            FileWriter().write_text(self._path, f"timeline {pg.wal_mark.timeline}, lsn {pg.wal_mark.lsn:X}\n")
        except OSError as exc:
            if not self._failed:  # once: the next cycle tries again, the log need not say so each time
                log.warning("cannot write %s (a restart would then vote as a new node): %s", self._path, exc)
            self._failed = True
            return
        self.present = True
