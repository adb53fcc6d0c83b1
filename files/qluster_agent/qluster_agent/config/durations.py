"""Durations as the seed writes them: ``500ms``, ``30s``, ``1m``, ``1h``.

A bare number is rejected on purpose: ``node-timeout: 30`` could mean seconds or milliseconds,
and guessing wrong by a factor of 1000 turns a failover setting into an outage. Values are kept
as float seconds but must be a whole number of milliseconds so they render back exactly.

The arithmetic is on integers and the number is bounded to MAX_WHOLE_DIGITS digits before the
point, so ``99999999999999999999h`` (or a megabyte of nines) is refused at once instead of
overflowing a float; the key's own range (values.duration) is checked after this.
"""

from __future__ import annotations

import re

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_DURATION = re.compile(r"^\s*([0-9]+)(?:\.([0-9]+))?\s*(ms|s|m|h)\s*$")  # ASCII digits only
HINT = "use e.g. 500ms, 5s, 1m"
# 999999999999ms is 31 years, and no key's range comes near it, while every sane value fits
# (24h is 86400000ms). Leading zeros do not count.
MAX_WHOLE_DIGITS = 12
# A fraction needing more digits than this is finer than 1ms in every unit (1ms = 1/3600000h).
_MAX_FRACTION_DIGITS = 7


class DurationTooLong(ValueError):
    """The number is beyond MAX_WHOLE_DIGITS: out of every key's range (values.duration says which)."""


def parse_duration(value: object) -> float:
    """Return seconds for a duration string; raise ValueError naming the value otherwise."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{value!r} is not a duration ({HINT})")
    if isinstance(value, (int, float)):
        raise ValueError(f"{value!r} has no unit ({HINT})")
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a duration ({HINT})")
    whole, fraction, unit = match.groups()
    whole = whole.lstrip("0")
    fraction = (fraction or "").rstrip("0")
    if len(whole) > MAX_WHOLE_DIGITS:
        raise DurationTooLong(f"{value!r} is too long (at most {MAX_WHOLE_DIGITS} digits before the point)")
    if len(fraction) > _MAX_FRACTION_DIGITS:
        raise ValueError(f"{value!r} is finer than 1ms")
    scale = 10 ** len(fraction)
    numerator = (int(whole or "0") * scale + int(fraction or "0")) * _UNIT_MS[unit]
    if numerator % scale:
        raise ValueError(f"{value!r} is finer than 1ms")
    return numerator // scale / 1000


def format_duration(seconds: float) -> str:
    """Render seconds in the largest unit that represents them exactly: 0.5 -> '500ms', 60 -> '1m'."""
    millis = round(seconds * 1000)
    for unit in ("h", "m", "s"):
        size = _UNIT_MS[unit]
        if millis and millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"
