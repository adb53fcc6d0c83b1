"""Bounded logging and retrying for a process that runs while the things it talks to are down.

Seed 001 records the vendor's pooler filling the disk with retry messages while the database
was down. Here a problem is logged once when it starts (or changes), repeated at most once per
`repeat_after` seconds with a count, and once more when it ends; retries back off
exponentially up to a ceiling. Time comes in as numbers: the classes never read a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class _Topic:
    key: str
    since: float
    last_logged: float
    suppressed: int = 0


class RateLimitedLog:
    """Per topic: the first occurrence of a problem, a change of it, a reminder at most every
    `repeat_after` seconds, and its end. `emit(level, message)` does the writing."""

    def __init__(self, emit: Callable[[str, str], None], repeat_after: float = 60.0) -> None:
        self._emit = emit
        self.repeat_after = repeat_after
        self._topics: dict[str, _Topic] = {}

    def problem(self, topic: str, key: str, message: str, now: float, level: str = "warning") -> bool:
        """Report a problem; `key` tells one problem from another (the message may carry
        changing details). Returns whether a line was written."""
        current = self._topics.get(topic)
        if current is None or current.key != key:
            self._topics[topic] = _Topic(key, now, now)
            self._emit(level, message)
            return True
        if now - current.last_logged >= self.repeat_after:
            self._emit(level, f"{message} (still, for {now - current.since:.0f} s; "
                              f"{current.suppressed} repeats not logged)")
            current.last_logged = now
            current.suppressed = 0
            return True
        current.suppressed += 1
        return False

    def resolved(self, topic: str, message: str, now: float) -> bool:
        """The problem of `topic`, if there was one, is over: say so once."""
        current = self._topics.pop(topic, None)
        if current is None:
            return False
        self._emit("info", f"{message} (after {now - current.since:.0f} s)")
        return True

    def active(self, topic: str) -> bool:
        return topic in self._topics

    def forget(self, topic: str) -> int:
        """Drop `topic` without a line; returns how many of its repeats were not logged."""
        current = self._topics.pop(topic, None)
        return current.suppressed if current else 0


class Backoff:
    """Delay before the next attempt: `base` while things work, doubling per consecutive
    failure up to `ceiling`."""

    def __init__(self, base: float, ceiling: float) -> None:
        if base <= 0 or ceiling < base:
            raise ValueError(f"backoff needs 0 < base <= ceiling, got base={base} ceiling={ceiling}")
        self.base = base
        self.ceiling = ceiling
        self.failures = 0

    def success(self) -> float:
        self.failures = 0
        return self.base

    def failure(self) -> float:
        self.failures += 1
        return min(self.ceiling, self.base * 2 ** min(self.failures, 30))
