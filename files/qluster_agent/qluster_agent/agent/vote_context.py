"""The WAL position a node votes with, as the one unsigned 64-bit number the consensus carries.

Histories that forked are ordered by timeline first (a node left on timeline 1 may hold WAL
past the point where timeline 2 began, yet timeline 2 is the cluster's history), then by LSN.
Packing the timeline into the top 16 bits and the LSN into the low 48 keeps that order under
plain integer comparison: 65535 timelines and 256 TiB of WAL per timeline.
"""

from __future__ import annotations

from ..pg.status import WalMark

# A position just past a WAL page header holds nothing more than the page's start: a primary's
# write position and pg_control's checkpoint location sit there, while a standby reports the
# page start it has received. Counting them equal keeps a caught-up standby from losing a vote
# by a header's length.
XLOG_BLCKSZ = 8192
PAGE_HEADER_SIZES = (24, 40)  # short header; long header at the start of a segment

LSN_BITS = 48
LSN_MAX = (1 << LSN_BITS) - 1
TIMELINE_MAX = (1 << 16) - 1


def vote_context(mark: WalMark | None) -> int:
    """0 when nothing is known: an unknown position loses to any known one."""
    if mark is None:
        return 0
    lsn = mark.lsn
    if lsn % XLOG_BLCKSZ in PAGE_HEADER_SIZES:
        lsn -= lsn % XLOG_BLCKSZ
    return (min(mark.timeline, TIMELINE_MAX) << LSN_BITS) | min(lsn, LSN_MAX)
