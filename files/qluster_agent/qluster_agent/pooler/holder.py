"""Carries out hold.py's decisions on PgBouncer and the hold file, one round at a time (a
switchover's hold and a failover's: only the former is announced in the hold file).

Nothing here waits for a transaction: a PAUSE is sent on its own admin connection and polled
each round (pgbouncer.py); RECONNECT and RESUME answer at once (each waits at most the sync's
`timeout`). A RESUME that could not be sent (PgBouncer unreachable) is tried again every round
until PgBouncer answers it: a database is never left paused behind the sync's back. On start and
on stop the sync resumes every database of `hold-databases` (`release_all`), whatever it
remembers, and removes the hold file.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Callable

from .hold import Action, HoldDecision, HoldState, HoldView, Kind, Stage, decide
from .pgbouncer import AdminConsole, AdminError, Pending
from .ratelimit import RateLimitedLog

# RESUME of a database that is not paused (or that PgBouncer no longer has) needs no retry.
_NOTHING_TO_RESUME = ("is not paused", "no such database")


class Holder:
    def __init__(self, console: AdminConsole, databases: tuple[str, ...], hold_file: str, timeout: float,
                 say: Callable[[str, str], None], limited: RateLimitedLog, failover_timeout: float = 0.0,
                 session_databases: tuple[str, ...] = ()) -> None:
        self.console = console
        self.databases = databases
        # Session-pooled names, paused with every hold so that their logins wait instead of failing on
        # the old leader; their PAUSE ends only once every session has, and nothing waits for it.
        self.session_databases = session_databases
        self.session_pending: dict[str, Pending] = {}
        self.hold_file = hold_file
        self.timeout = timeout
        self.failover_timeout = failover_timeout  # 0: no failover hold
        self.say = say
        self.limited = limited
        self.state = HoldState()
        self.pending: dict[str, Pending] = {}
        self.failed = ""
        self.to_resume: set[str] = set()  # databases whose RESUME has not gone through yet
        self.reconnect = True  # the owed RESUMEs close the server connections first
        # A RECONNECT of a database that is not paused (at the sync's start, or a PAUSE not answered
        # yet) makes PgBouncer close its server connections as they are released: when the last went through.
        self.reconnect_unpaused = True
        self.reconnected_at: float | None = None
        self.resumed_at: float | None = None  # when a hold last ended (or the sync started)
        self.resume_error = ""
        self.last_reason = ""

    @property
    def every_database(self) -> tuple[str, ...]:
        """The transaction-pooled names and the session-pooled ones: what a RESUME is owed for."""
        return self.databases + self.session_databases

    @property
    def active(self) -> bool:
        """A hold is on: the sync rounds fast meanwhile (an owed RESUME is retried at its normal pace)."""
        return self.state.stage is not Stage.FREE

    def step(self, leader: int | None, switchover_to: int | None, routed: bool, now: float,
             leader_silent: bool = False, term: int | None = None, leader_reset: bool = False,
             leader_heard_ago: float | None = None) -> HoldDecision:
        """One round: poll the PAUSEs in flight, decide, act, log the reason when it changed."""
        if self.to_resume:
            self._resume_owed(now)
        if self.state.stage is Stage.FREE:  # a PAUSE to come goes out at once, without logging in first
            self.console.keep_ready(len(self.every_database))
        view = HoldView(leader, switchover_to, routed, *self._poll_pauses(), leader_silent=leader_silent, term=term,
                        leader_reset=leader_reset, leader_heard_ago=leader_heard_ago)
        decision = decide(view, self.state, now, self.timeout, self.failover_timeout)
        if decision.action is Action.PAUSE:
            self._pause()
            if decision.kind is Kind.FAILOVER:
                self._pause_sessions()
        elif decision.action is Action.ANNOUNCE:
            self._pause_sessions()
            self._write_file(self.state.target, now)
        elif decision.action is Action.RESUME:
            self._close_pending()
            self.to_resume, self.reconnect = set(self.every_database), decision.reconnect
            self.reconnect_unpaused = not view.paused  # a finished PAUSE has closed every server connection
            started = self.console.clock()
            self._resume_owed(now)
            self._remove_file(now)
            # Once PgBouncer has taken the RESUMEs (a command each on its own connection: tens of ms).
            self.resumed_at = now + (self.console.clock() - started)
        if decision.reason != self.last_reason and (decision.action is not Action.NOTHING
                                                    or self.state.stage is not Stage.FREE):
            kind = decision.kind if decision.action is Action.PAUSE else self.state.kind
            self.say("info", f"{kind.value} hold: {decision.reason}")
        self.last_reason = decision.reason
        self.state = self.state.after(decision, view, now)
        return decision

    def release_all(self, why: str, now: float) -> None:
        """Resume every database and remove the hold file (the sync's start and stop)."""
        self._close_pending()
        self.to_resume, self.reconnect, self.reconnect_unpaused = set(self.every_database), True, True
        self.resumed_at = now
        self._resume_owed(now, quiet=True)
        if self.to_resume:
            self.say("warning", f"hold: {why}: could not resume {', '.join(sorted(self.to_resume))}: "
                                f"{self.resume_error} (a PgBouncer that restarts holds nothing)")
            self.to_resume.clear()  # nothing of this process's own: what it could not reach it did not pause
        else:
            self.say("info", f"hold: {why}: {', '.join(self.every_database)} not paused (RESUME sent)")
        self._remove_file(now)
        self.state = HoldState()

    # -------------------------------------------------------------------- PgBouncer
    def _pause(self) -> None:
        self.failed = ""
        for database in self.databases:
            try:
                self.pending[database] = self.console.start(f"PAUSE {database}")
            except AdminError as exc:
                self.failed = str(exc)
                break

    def _pause_sessions(self) -> None:
        """PAUSE the session-pooled names too: PgBouncer answers every PAUSE only once every paused
        database is idle, and these are idle only once their sessions have ended (the old leader
        ends them as it demotes), so a switchover's are sent once the hold is announced."""
        for database in self.session_databases if not self.failed else ():
            try:
                self.session_pending[database] = self.console.start(f"PAUSE {database}")
            except AdminError:
                continue  # not known to PgBouncer yet (no client has used it), or gone: its logins go on

    def _poll_pauses(self) -> tuple[bool, str]:
        """Whether every PAUSE sent has been answered, and why one failed ('' when none did)."""
        for database, pending in list(self.pending.items()):
            try:
                pending.poll()
            except AdminError as exc:
                self.failed = self.failed or str(exc)
                del self.pending[database]
        paused = bool(self.pending) and all(p.done for p in self.pending.values())
        for database, pending in list(self.session_pending.items()):
            try:
                pending.poll()
            except AdminError:
                del self.session_pending[database]  # "no such database": nothing of it to hold
        return paused, self.failed

    def _close_pending(self) -> None:
        for pending in (*self.pending.values(), *self.session_pending.values()):
            pending.close()  # a PAUSE that RESUME overtakes is never answered
        self.pending.clear()
        self.session_pending.clear()
        self.failed = ""

    def _resume_owed(self, now: float, quiet: bool = False) -> None:
        for database in sorted(self.to_resume):
            try:
                for command in ((f"RECONNECT {database}",) if self.reconnect else ()) + (f"RESUME {database}",):
                    try:
                        self.console.run(command)
                        if command.startswith("RECONNECT") and self.reconnect_unpaused:
                            self.reconnected_at = now
                    except AdminError as exc:
                        if not any(text in str(exc) for text in _NOTHING_TO_RESUME):
                            raise
            except AdminError as exc:
                self.resume_error = str(exc)
                if not quiet:
                    self.limited.problem("hold-resume", "unanswered", f"hold: cannot resume {database}: "
                                                                      f"{exc}; will retry", now)
                continue
            self.to_resume.discard(database)
        if not self.to_resume:
            self.limited.resolved("hold-resume", "hold: PgBouncer takes RESUME again", now)

    # -------------------------------------------------------------------- the hold file
    def _write_file(self, target: int | None, now: float) -> None:
        directory = os.path.dirname(self.hold_file) or "."
        try:
            fd, tmp = tempfile.mkstemp(prefix=".hold.", dir=directory)
            try:
                os.fchmod(fd, 0o644)  # the observer agent, another user, reads it
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump({"held_for": target}, handle)
                os.replace(tmp, self.hold_file)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as exc:
            self.limited.problem("hold-file", "unwritable", f"switchover hold: cannot write {self.hold_file}: "
                                                            f"{exc.strerror or exc} (the leader demotes after its wait)",
                                 now)
            return
        self.limited.resolved("hold-file", f"switchover hold: {self.hold_file} is written again", now)

    def _remove_file(self, now: float) -> None:
        try:
            os.unlink(self.hold_file)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self.limited.problem("hold-file", "unremovable", f"switchover hold: cannot remove {self.hold_file}: "
                                                             f"{exc.strerror or exc}", now)
