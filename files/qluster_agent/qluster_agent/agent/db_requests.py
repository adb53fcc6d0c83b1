"""An operator's restart or reload of this node's database (POST /restart, /reload), carried out
by the HA loop, the one thread that acts on the database.

The API thread asks (`ask`) and waits on the Future it gets; the HA loop takes the request at
its next cycle (`take`), runs it as a Decision of its own (Action.RESTART_DATABASE, a long
operation in the executor's slot; Action.RELOAD_DATABASE, inline) and settles the Future: a
reload once done, a restart once the executor has run it (`finished`).
"""

from __future__ import annotations

import enum
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from ..ha.decision import Action, Decision


class DbRequestKind(enum.Enum):
    RESTART = "restart"
    RELOAD = "reload"


class DbRequestRefused(RuntimeError):
    """The HA loop could not carry the request out (another long operation runs, the agent stops)."""


@dataclass(frozen=True)
class DbRequest:
    kind: DbRequestKind
    future: Future

    def decision(self, my_id: int) -> Decision:
        if self.kind is DbRequestKind.RESTART:
            return Decision(Action.RESTART_DATABASE,
                            f"I am node {my_id}; restart of my database requested, stopping it (fast) and starting it again")
        return Decision(Action.RELOAD_DATABASE, f"I am node {my_id}; reload of my database's configuration requested")


class DbRequests:
    """At most one request waits; at most one restart runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: DbRequest | None = None
        self._running: DbRequest | None = None  # a restart submitted to the executor

    def ask(self, kind: DbRequestKind) -> Future:
        """From the API thread. A second request while one waits or a restart runs is refused."""
        future: Future = Future()
        with self._lock:
            busy = self._waiting or self._running
            if busy is not None:
                future.set_exception(DbRequestRefused(f"a {busy.kind.value} of this database is under way"))
                return future
            self._waiting = DbRequest(kind, future)
        return future

    def take(self) -> DbRequest | None:
        """From the HA loop: the request to carry out now."""
        with self._lock:
            request, self._waiting = self._waiting, None
            return request

    def started(self, request: DbRequest, ok: bool, problem: str = "") -> None:
        """The HA loop ran `request` (a reload: done; a restart: submitted) or could not (`problem`)."""
        if not ok:
            request.future.set_exception(DbRequestRefused(problem))
        elif request.kind is DbRequestKind.RELOAD:
            request.future.set_result(None)
        else:
            with self._lock:
                self._running = request

    def finished(self, ok: bool, problem: str = "") -> None:
        """The executor's restart ended (the HA loop's _take_finished)."""
        with self._lock:
            request, self._running = self._running, None
        if request is None or request.future.done():
            return
        if ok:
            request.future.set_result(None)
        else:
            request.future.set_exception(DbRequestRefused(problem))
