"""The long database operations that run one at a time in the executor."""

from __future__ import annotations

import enum


class LongOperation(enum.Enum):
    BOOTSTRAP = "bootstrap"
    BASE_BACKUP = "base backup"
    REWIND = "rewind"
    PROMOTE = "promote"
    START = "start"
    STOP = "stop"
    RESTART = "restart"  # POST /restart: stop (fast), start again as what it was
