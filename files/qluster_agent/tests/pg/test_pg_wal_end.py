"""Finding where a stopped database's WAL ends from pg_waldump's closing error (pure parts).

The real thing runs in test_pg_integration.py (a fenced primary votes with its end of WAL).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qluster_agent.pg.lsn import parse_lsn
from qluster_agent.pg.wal_end import Segment, dump_start, parse_dump_end, parse_segment_name, waldump_argv

MB16 = 16 * 1024 * 1024


@pytest.mark.parametrize("stderr, end", [
    # The usual end: zeroes after the last record (PostgreSQL 15's wording).
    ("pg_waldump: error: error in WAL record at 0/2154890: invalid record length at 0/2154A28: wanted 24, got 0",
     "0/2154A28"),
    # A recycled segment: its first page still carries an old address.
    ("pg_waldump: error: error in WAL record at 0/2FFFF90: unexpected pageaddr 0/1000000 in log segment "
     "000000010000000000000003, offset 0", "0/3000000"),
    ("pg_waldump: error: error in WAL record at 1/20: invalid magic number 0000 in log segment "
     "000000020000000100000000, offset 8192", "1/2000"),
    ("pg_waldump: error: error in WAL record at 0/5000028: record with incorrect prev-link 0/10 at 0/50000A0",
     "0/50000A0"),
    # Nothing inside names a place: the last good record's start, a lower bound.
    ("pg_waldump: error: error in WAL record at 0/5000028: something new", "0/5000028"),
    # The WAL ran to the end of the last file there is.
    ('pg_waldump: error: could not find file "000000010000000000000004": No such file or directory', "0/4000000"),
])
def test_the_end_is_read_from_the_closing_error(stderr: str, end: str) -> None:
    assert parse_dump_end(stderr, MB16) == parse_lsn(end)


def test_output_naming_no_place_gives_nothing() -> None:
    assert parse_dump_end("", MB16) is None
    assert parse_dump_end("pg_waldump: error: could not find any WAL file", MB16) is None


def test_segment_names_follow_the_segment_size() -> None:
    assert parse_segment_name("000000030000000100000002", MB16) == Segment(3, 256 + 2)
    assert parse_segment_name("000000030000000100000002", 64 * 1024 * 1024) == Segment(3, 64 + 2)
    assert parse_segment_name("000000010000000000000002.partial", MB16) is None
    assert parse_segment_name("00000002.history", MB16) is None


def test_reading_starts_at_the_redo_point_of_the_newest_timeline() -> None:
    segments = [Segment(1, 1), Segment(1, 2), Segment(1, 3)]
    assert dump_start(segments, MB16, redo_lsn=2 * MB16 + 40) == (1, 2 * MB16 + 40)


def test_a_timeline_begun_after_the_checkpoint_is_read_from_its_first_file() -> None:
    # Promoted inside segment 3 (copied to timeline 2), checkpoint still in segment 2 of timeline 1.
    segments = [Segment(1, 2), Segment(1, 3), Segment(2, 3), Segment(2, 4)]
    assert dump_start(segments, MB16, redo_lsn=2 * MB16 + 40) == (2, 3 * MB16)
    assert dump_start([], MB16, redo_lsn=40) is None


def test_the_command_prints_only_the_closing_error() -> None:
    argv = waldump_argv("/usr/lib/postgresql/15/bin/pg_waldump", Path("/d/pg_wal"), 2, parse_lsn("1/2000028"))
    assert argv == ["/usr/lib/postgresql/15/bin/pg_waldump", "--quiet", "--path=/d/pg_wal", "--timeline=2",
                    "--start=1/2000028"]
