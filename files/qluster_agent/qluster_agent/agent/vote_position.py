"""What this node votes with: the WAL position it stands by, owned in one place.

Each HA cycle hands the database status it read to `VotePosition.observe`, which keeps the
position (`context`), the markers that survive a restart (StoppedSinceRead, HeldDataMarker) and
says what the consensus core should vote with from now on, and why. The consensus thread asks
`answer` just before it answers a (pre-)vote: the position may have moved since the cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..pg.status import DbRole, PgStatus
from .vote_context import HeldDataMarker, StoppedSinceRead, context_to_answer, stands_by_no_position, vote_context


@dataclass(frozen=True)
class VoteChoice:
    """What to give the core now (`context`; None: leave the one it has), and why."""

    context: int | None
    reason: str


class VotePosition:
    """The position this node votes with, kept across cycles (and, when stopped, restarts).

    A standby's position never goes down within a run (one that restarts for a moment still
    holds its WAL, while pg_control only tells the last restartpoint). A primary's write
    position runs up to a page header ahead of what any standby can report, so it is not
    kept: once the primary stops, pg_control's shutdown checkpoint is its honest position.
    """

    def __init__(self, state_dir: str) -> None:
        self._stopped_since_read = StoppedSinceRead(state_dir)
        self._held_data = HeldDataMarker(state_dir)
        # Where the WAL of a server stopped since then ended, as saved before a restart.
        self.context = self._kept = self._stopped_since_read.context

    def observe(self, pg: PgStatus) -> VoteChoice:
        """The status one cycle read; returns what the core votes (and campaigns) with now."""
        self._held_data.note(pg)
        choice = VoteChoice(None, "no WAL position read; the core keeps the one it has")
        if pg.wal_mark is not None:
            self.context = self._next(pg)
            choice = VoteChoice(self.context, "my database's WAL position")
        self._stopped_since_read.observe(pg, self.context)
        if pg.wal_mark is None and stands_by_no_position(
                self.context, pg, self._stopped_since_read.holds, self._held_data.present):
            # No position to stand by (it abstains from votes): it campaigns with none either,
            # so it cannot win against a node that knows how far its own WAL goes.
            choice = VoteChoice(0, "no position I can stand by: I abstain from votes and campaign with none")
        return choice

    def _next(self, pg: PgStatus) -> int:
        context = vote_context(pg.wal_mark)
        if pg.role is DbRole.PRIMARY:
            self._kept = 0
            return context
        self._kept = max(self._kept, context)
        return self._kept

    def answer(self, last: PgStatus | None, read_now: Callable[[], int | None],
               receiving_now: Callable[[], bool]) -> int | None:
        """My vote context as of this moment, for the consensus thread (None: abstain).

        `last` is the status the last full cycle published. The HA loop refreshes the context
        once a cycle, and a cycle can take seconds on a loaded machine. Meanwhile this node's
        database may confirm commits to the leader (it is a synchronous standby); answering a
        vote with the older position could elect a candidate that lacks them. So the position
        is read again (vote_context.context_to_answer says when this node must abstain instead).
        """
        return context_to_answer(self.context, last, read_now, receiving_now,
                                 self._stopped_since_read.holds, self._held_data.present)
