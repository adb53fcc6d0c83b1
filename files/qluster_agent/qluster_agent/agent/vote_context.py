"""The WAL position a node votes with, as the one unsigned 64-bit number the consensus carries.

Histories that forked are ordered by timeline first (a node left on timeline 1 may hold WAL
past the point where timeline 2 began, yet timeline 2 is the cluster's history), then by LSN.
Packing the timeline into the top 16 bits and the LSN into the low 48 keeps that order under
plain integer comparison: 65535 timelines and 256 TiB of WAL per timeline.
"""

from __future__ import annotations

from ..pg.status import WalMark

LSN_BITS = 48
LSN_MAX = (1 << LSN_BITS) - 1
TIMELINE_MAX = (1 << 16) - 1


def vote_context(mark: WalMark | None) -> int:
    """0 when nothing is known: an unknown position loses to any known one."""
    if mark is None:
        return 0
    return (min(mark.timeline, TIMELINE_MAX) << LSN_BITS) | min(mark.lsn, LSN_MAX)
