"""A token bucket limiting bytes sent per second (``udp.socket.pacing-rate``)."""

from __future__ import annotations


_SLACK_BYTES = 1e-6


class TokenBucket:
    """``rate`` bytes/s with room for ``burst`` bytes at once; rate 0 means unlimited.

    The burst must hold the largest datagram, or that datagram could never be sent.
    Time is passed in (``now``) so the bucket is a pure calculation, testable without sleeping.
    """

    def __init__(self, rate: int, burst: int, now: float) -> None:
        if rate < 0 or burst <= 0:
            raise ValueError("rate must be >= 0 and burst > 0")
        self._rate = rate
        self._burst = burst
        self._tokens = float(burst)
        self._updated = now

    def wait_time(self, size: int, now: float) -> float:
        """0.0 and the bytes are taken when ``size`` may go now; otherwise the seconds to wait
        before asking again (nothing is taken)."""
        if self._rate == 0:
            return 0.0
        if size > self._burst:
            raise ValueError(f"{size} bytes exceed the burst of {self._burst}")
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        # The slack absorbs float rounding: after waiting exactly the delay returned below, the
        # refill may come out a hair short, and asking again for a femtosecond would spin.
        if self._tokens >= size - _SLACK_BYTES:
            self._tokens -= size
            return 0.0
        return (size - self._tokens) / self._rate
