"""A flag a long operation checks, so the HA loop can abandon it (e.g. a base backup from a
leader that just lost leadership)."""

from __future__ import annotations

import threading


class Cancelled(Exception):
    """Raised inside an operation once its token was cancelled."""


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early on cancel; True when cancelled."""
        return self._event.wait(seconds)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()
