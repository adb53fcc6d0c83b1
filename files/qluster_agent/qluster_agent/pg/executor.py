"""Runs one long database operation at a time in a background thread.

The HA loop must keep its cycle short (heartbeats, fencing, answering the API) while initdb, a
base backup or a rewind takes minutes. It submits the operation here and on later cycles reads
`running()` ("base backup in progress") and `take_finished()` for the outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .cancel import CancelToken, Cancelled
from .operation import LongOperation

log = logging.getLogger(__name__)

Operation = Callable[[CancelToken], object]


@dataclass(frozen=True)
class RunningOperation:
    kind: LongOperation
    started_at: float  # clock() at submit

    def describe(self, now: float) -> str:
        return f"{self.kind.value} in progress for {now - self.started_at:.0f} s"


@dataclass(frozen=True)
class FinishedOperation:
    kind: LongOperation
    started_at: float
    finished_at: float
    succeeded: bool
    cancelled: bool
    error: str | None  # one line when it failed

    def describe(self) -> str:
        took = f"{self.finished_at - self.started_at:.1f} s"
        if self.succeeded:
            return f"{self.kind.value} finished in {took}"
        if self.cancelled:
            return f"{self.kind.value} cancelled after {took}"
        return f"{self.kind.value} failed after {took}: {self.error}"


class LongOperationExecutor:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 on_finished: Callable[[], None] | None = None) -> None:
        """on_finished: called (on the operation's thread) once its outcome can be taken, so a
        caller waiting for something else hears of it at once."""
        self._clock = clock
        self._on_finished = on_finished
        self._lock = threading.Lock()
        self._running: RunningOperation | None = None
        self._token: CancelToken | None = None
        self._thread: threading.Thread | None = None
        self._finished: FinishedOperation | None = None
        self._closed = False
        self._last_failure: tuple[LongOperation, str] | None = None  # kind and error, until a success

    def submit(self, kind: LongOperation, operation: Operation) -> bool:
        """Start `operation(cancel_token)` unless one is already running or the executor is
        closed (then False)."""
        with self._lock:
            if self._running is not None or self._closed:
                return False
            token = CancelToken()
            running = RunningOperation(kind, self._clock())
            self._running, self._token, self._finished = running, token, None
            self._thread = threading.Thread(
                target=self._run, args=(running, operation, token), name=f"qluster-{kind.name.lower()}", daemon=True
            )
            self._thread.start()
            return True

    def running(self) -> RunningOperation | None:
        with self._lock:
            return self._running

    def take_finished(self) -> FinishedOperation | None:
        """The outcome of the last operation, handed out once."""
        with self._lock:
            finished, self._finished = self._finished, None
            return finished

    def cancel(self) -> None:
        with self._lock:
            if self._token is not None:
                self._token.cancel()

    def close(self) -> None:
        """Cancel what runs and refuse every later submit: the agent is stopping, and an
        operation started after its database was stopped would leave a server behind it."""
        with self._lock:
            self._closed = True
            if self._token is not None:
                self._token.cancel()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the current operation ends (tests, shutdown); True if none is left."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        return self.running() is None

    def _run(self, running: RunningOperation, operation: Operation, token: CancelToken) -> None:
        succeeded, cancelled, error = False, False, None
        try:
            operation(token)
            succeeded = True
            self._last_failure = None
        except Cancelled:
            cancelled = True
        except Exception as exc:  # the loop decides what to do; the thread must not die silently
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            # The traceback once per kind of failure: the same failure again (a retry) is one line.
            repeated = (running.kind, error) == self._last_failure
            self._last_failure = (running.kind, error)
            log.warning("%s failed: %s", running.kind.value, error, exc_info=not repeated)
        finished = FinishedOperation(running.kind, running.started_at, self._clock(), succeeded, cancelled, error)
        with self._lock:
            self._finished = finished
            self._running = None
            self._token = None
        if self._on_finished is not None:
            self._on_finished()
