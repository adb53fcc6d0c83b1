"""WAL positions (LSNs) as PostgreSQL prints them ("0/3000060") and as plain integers."""

from __future__ import annotations

_MAX_HALF = 0xFFFFFFFF


def parse_lsn(text: str) -> int:
    """Turn '16/B374D848' into the 64-bit integer it names.

    PostgreSQL prints an LSN as two 32-bit hexadecimal halves; integers compare and subtract
    directly, which is what lag and vote checks need.
    """
    high, sep, low = text.strip().partition("/")
    if not sep or not high or not low:
        raise ValueError(f"not an LSN: {text!r}")
    try:
        high_value, low_value = int(high, 16), int(low, 16)
    except ValueError:
        raise ValueError(f"not an LSN: {text!r}") from None
    if not (0 <= high_value <= _MAX_HALF and 0 <= low_value <= _MAX_HALF):
        raise ValueError(f"LSN out of range: {text!r}")
    return (high_value << 32) | low_value


def parse_optional_lsn(text: str | None) -> int | None:
    """Like parse_lsn, but None (a NULL column) stays None."""
    return None if text is None else parse_lsn(text)


def format_lsn(value: int) -> str:
    """Turn an integer back into PostgreSQL's 'X/X' form (upper-case hex, no padding)."""
    if not 0 <= value <= 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"LSN out of range: {value}")
    return f"{value >> 32:X}/{value & _MAX_HALF:X}"
