"""Durations as the seed writes them: ``500ms``, ``30s``, ``1m``, ``1h``.

A bare number is rejected on purpose: ``node-timeout: 30`` could mean seconds or milliseconds,
and guessing wrong by a factor of 1000 turns a failover setting into an outage. Values are kept
as float seconds but must be a whole number of milliseconds so they render back exactly.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
HINT = "use e.g. 500ms, 5s, 1m"


def parse_duration(value: object) -> float:
    """Return seconds for a duration string; raise ValueError naming the value otherwise."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{value!r} is not a duration ({HINT})")
    if isinstance(value, (int, float)):
        raise ValueError(f"{value!r} has no unit ({HINT})")
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a duration ({HINT})")
    number, unit = match.groups()
    try:
        millis = Decimal(number) * _UNIT_MS[unit]
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise ValueError(f"{value!r} is not a duration ({HINT})") from None
    if millis != millis.to_integral_value():
        raise ValueError(f"{value!r} is finer than 1ms")
    return int(millis) / 1000


def format_duration(seconds: float) -> str:
    """Render seconds in the largest unit that represents them exactly: 0.5 -> '500ms', 60 -> '1m'."""
    millis = round(seconds * 1000)
    for unit in ("h", "m", "s"):
        size = _UNIT_MS[unit]
        if millis and millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"
