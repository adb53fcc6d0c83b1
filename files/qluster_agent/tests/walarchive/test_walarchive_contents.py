"""Telling the WAL files in an archive directory from anything else there."""

from __future__ import annotations

from pathlib import Path

from qluster_agent.walarchive.contents import archived_wal


def test_only_wal_names_count(tmp_path: Path) -> None:
    for name in ("000000010000000000000003", "00000002.history", "000000020000000000000004.partial",
                 "000000010000000000000002.00000028.backup", "README", "qbackup.lock", "0000000100000000000000"):
        (tmp_path / name).write_text("x")
    assert archived_wal(tmp_path) == ["000000010000000000000002.00000028.backup", "000000010000000000000003",
                                      "00000002.history", "000000020000000000000004.partial"]


def test_an_archive_not_created_yet_holds_nothing(tmp_path: Path) -> None:
    assert archived_wal(tmp_path / "wal") == []
