"""Where a stopped database's WAL really ends, read with pg_waldump.

pg_control names only the last checkpoint. A primary fenced with an immediate stop, or one that
crashed, holds WAL well past it: every transaction it acknowledged since. A vote check fed the
checkpoint would let such a node vote for a candidate that lacks those transactions (losing
them), and make it lose elections it should win. pg_waldump reads forward from the checkpoint's
redo point and stops where the valid WAL stops; its closing error names that place.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .lsn import parse_lsn

# A WAL segment file: timeline, then the segment number as two 8-digit halves.
_SEGMENT_NAME = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")
_LSN = r"([0-9A-F]+/[0-9A-F]+)"
# "pg_waldump: error: error in WAL record at 0/2154890: invalid record length at 0/2154A28: ..."
_RECORD_ERROR = re.compile(r"error in WAL record at " + _LSN + r": (.*)")
# A recycled or garbage page: "unexpected pageaddr 0/1000000 in log segment <name>, offset 8192".
_AT_PAGE = re.compile(r"in log segment ([0-9A-F]{24}), offset (\d+)")
_AT_LSN = re.compile(r"\bat " + _LSN)
# The WAL ran to the end of the last segment file there is.
_MISSING_FILE = re.compile(r'could not (?:find|open) file "([0-9A-F]{24})"')


@dataclass(frozen=True)
class Segment:
    timeline: int
    number: int


@dataclass(frozen=True)
class WalEnd:
    timeline: int
    lsn: int


def parse_segment_name(name: str, segment_size: int) -> Segment | None:
    match = _SEGMENT_NAME.match(name)
    if match is None:
        return None
    timeline, high, low = (int(part, 16) for part in match.groups())
    return Segment(timeline, high * (0x100000000 // segment_size) + low)


def list_segments(pg_wal: Path) -> tuple[list[Segment], int]:
    """The WAL segment files in pg_wal and their size (every segment has the cluster's size)."""
    names, size = [], 0
    with os.scandir(pg_wal) as entries:
        for entry in entries:
            if _SEGMENT_NAME.match(entry.name) and entry.is_file():
                names.append(entry.name)
                size = size or entry.stat().st_size
    if not size:
        return [], 0
    segments = [parse_segment_name(name, size) for name in names]
    return [s for s in segments if s is not None], size


def dump_start(segments: list[Segment], segment_size: int, redo_lsn: int) -> tuple[int, int] | None:
    """(timeline, LSN) to read from: the newest timeline's files, from the checkpoint's redo point,
    or from that timeline's first file when it began after the checkpoint (a promote not yet
    checkpointed). None when there are no segment files."""
    if not segments:
        return None
    timeline = max(s.timeline for s in segments)
    numbers = sorted(s.number for s in segments if s.timeline == timeline)
    redo_segment = redo_lsn // segment_size
    if redo_segment in numbers:
        return timeline, redo_lsn
    later = [n for n in numbers if n > redo_segment]
    return timeline, (later[0] if later else numbers[0]) * segment_size


def parse_dump_end(stderr: str, segment_size: int) -> int | None:
    """The end of valid WAL from pg_waldump's closing error, or None when the output says nothing.

    The place named inside the record error is the end (where the next record would start). A
    bad page names its segment and offset. Without either, the last good record's start is a
    lower bound one record short.
    """
    for line in stderr.splitlines():
        page = _AT_PAGE.search(line)
        if page is not None:
            segment = parse_segment_name(page.group(1), segment_size)
            if segment is not None:
                return segment.number * segment_size + int(page.group(2))
        record = _RECORD_ERROR.search(line)
        if record is not None:
            inner = _AT_LSN.search(record.group(2))
            return parse_lsn(inner.group(1) if inner else record.group(1))
        missing = _MISSING_FILE.search(line)
        if missing is not None:
            segment = parse_segment_name(missing.group(1), segment_size)
            if segment is not None:
                return segment.number * segment_size
    return None


def waldump_argv(waldump: str, pg_wal: Path, timeline: int, start_lsn: int) -> list[str]:
    """-q: records are not printed, only the closing error that names the end."""
    start = f"{start_lsn >> 32:X}/{start_lsn & 0xFFFFFFFF:X}"
    return [waldump, "--quiet", f"--path={pg_wal}", f"--timeline={timeline}", f"--start={start}"]
