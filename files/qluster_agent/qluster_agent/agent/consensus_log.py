"""The consensus core's log lines, with unchanged repeats held back.

A node that cannot win a pre-vote (cut off from the others, or removed from the cluster while
its agent keeps running) starts a new one every election timeout, and the others refuse each
the same way: identical lines every half second, thousands an hour, on every node, the log
flood seed 001 records of another product. A line is logged the first time; the same line
again within `window` seconds only counts, and is logged at most once per window with the count
(pooler.ratelimit.RateLimitedLog). Lines that differ (a new term, a new leader) are logged at
once, so nothing that changes is held back.
"""

from __future__ import annotations

import time
from typing import Callable

from ..pooler.ratelimit import RateLimitedLog


class ConsensusLog:
    def __init__(self, emit: Callable[[str], None], window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._emit = emit
        self._window = window
        self._clock = clock
        self._log = RateLimitedLog(lambda _level, message: emit(message), repeat_after=window)
        self._last_seen: dict[str, float] = {}

    def __call__(self, line: str) -> None:
        now = self._clock()
        self._forget_quiet(now)
        self._last_seen[line] = now
        self._log.problem(line, line, line, now, level="info")

    def _forget_quiet(self, now: float) -> None:
        """Lines not seen for a window are forgotten (a later one is logged afresh), saying how
        many of their repeats were held back since they were last logged."""
        for line, seen in list(self._last_seen.items()):
            if now - seen > self._window:
                del self._last_seen[line]
                held = self._log.forget(line)
                if held:
                    self._emit(f"{line} ({held} more times, the last {now - seen:.0f} s ago)")
