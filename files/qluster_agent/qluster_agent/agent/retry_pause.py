"""The pause between a failed long operation (base backup, rewind, start) and the next one."""

from __future__ import annotations

from ..pooler.ratelimit import Backoff


class RetryPause:
    """`first` seconds after a failure, doubling with each failure in a row up to `longest`, none
    after a success. A base backup that the leader's pg_hba.conf refuses fails within
    milliseconds: at a fixed 2 s pause its retries and tracebacks filled the journal with a
    thousand lines a minute, the log flood seed 001 records of another product."""

    def __init__(self, first: float = 2.0, longest: float = 30.0) -> None:
        self._backoff = Backoff(first / 2, longest)  # Backoff waits twice its base after one failure
        self.not_before: float | None = None

    @property
    def failures(self) -> int:
        """Failed operations in a row."""
        return self._backoff.failures

    def failed(self, now: float) -> float:
        """Records a failure at `now`; returns the pause before the next operation."""
        pause = self._backoff.failure()
        self.not_before = now + pause
        return pause

    def succeeded(self) -> None:
        self._backoff.success()
        self.not_before = None
