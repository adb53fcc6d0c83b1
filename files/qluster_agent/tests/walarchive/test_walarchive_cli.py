"""qluster-wal archive / restore, through main(argv) and as the database user."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from qluster_agent.pg.process import CommandRunner
from qluster_agent.walarchive.cli import main
from qluster_agent.walarchive.commands import archive_command, restore_command

SEGMENT = "000000010000000000000003"


@pytest.fixture
def wal(tmp_path: Path) -> Path:
    pg_wal = tmp_path / "pg_wal"
    pg_wal.mkdir()
    (pg_wal / SEGMENT).write_bytes(os.urandom(64 * 1024))
    return pg_wal / SEGMENT


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    directory = tmp_path / "archive"
    directory.mkdir()
    return directory


def test_archive_copies_the_segment(wal: Path, archive: Path) -> None:
    assert main(["archive", str(wal), SEGMENT, "--dest", str(archive)]) == 0
    assert (archive / SEGMENT).read_bytes() == wal.read_bytes()
    assert [p.name for p in archive.iterdir()] == [SEGMENT]  # no temp file left behind


def test_archiving_identical_content_again_succeeds(wal: Path, archive: Path) -> None:
    assert main(["archive", str(wal), SEGMENT, "--dest", str(archive)]) == 0
    assert main(["archive", str(wal), SEGMENT, "--dest", str(archive)]) == 0


def test_different_content_is_never_overwritten(wal: Path, archive: Path, capsys: pytest.CaptureFixture) -> None:
    (archive / SEGMENT).write_bytes(b"another timeline's history")
    assert main(["archive", str(wal), SEGMENT, "--dest", str(archive)]) == 1
    assert (archive / SEGMENT).read_bytes() == b"another timeline's history"
    err = capsys.readouterr().err
    assert "refusing to overwrite" in err and len(err.strip().splitlines()) == 1


def test_missing_archive_directory_fails(wal: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["archive", str(wal), SEGMENT, "--dest", str(tmp_path / "not-mounted")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "not-mounted").exists()  # never created behind an unmounted share


def test_missing_source_fails(archive: Path, tmp_path: Path) -> None:
    assert main(["archive", str(tmp_path / "nope"), SEGMENT, "--dest", str(archive)]) == 1


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".."])
def test_names_with_paths_are_rejected(wal: Path, archive: Path, name: str) -> None:
    assert main(["archive", str(wal), name, "--dest", str(archive)]) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories: see the next test")
def test_read_only_destination_fails(wal: Path, archive: Path, capsys: pytest.CaptureFixture) -> None:
    archive.chmod(0o555)
    try:
        assert main(["archive", str(wal), SEGMENT, "--dest", str(archive)]) == 1
    finally:
        archive.chmod(0o755)
    assert "Permission denied" in capsys.readouterr().err
    assert not (archive / SEGMENT).exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as the database user")
def test_read_only_destination_fails_for_the_database_user() -> None:
    # As on a share the database user cannot write: a root-owned 0755 archive directory,
    # with the command run the way the server runs it (as postgres, via python -m).
    root = Path(tempfile.mkdtemp(prefix="qluster-wal-", dir="/tmp"))
    try:
        root.chmod(0o755)
        (root / "archive").mkdir(mode=0o755)
        segment = root / SEGMENT
        segment.write_bytes(b"wal")
        segment.chmod(0o644)
        program = [sys.executable, "-m", "qluster_agent.walarchive"]
        result = CommandRunner(run_as="postgres").run(
            [*program, "archive", str(segment), SEGMENT, "--dest", str(root / "archive")]
        )
        assert result.returncode == 1
        assert result.stderr.startswith("qluster-wal archive: cannot archive")
        assert "Permission denied" in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not (root / "archive" / SEGMENT).exists()
    finally:
        shutil.rmtree(root)


def test_restore_copies_the_file(wal: Path, archive: Path, tmp_path: Path) -> None:
    main(["archive", str(wal), SEGMENT, "--dest", str(archive)])
    target = tmp_path / "RECOVERYXLOG"
    assert main(["restore", SEGMENT, str(target), "--src", str(archive)]) == 0
    assert target.read_bytes() == wal.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RECOVERYXLOG", "archive", "pg_wal"]


def test_restore_of_a_missing_file_exits_1_quietly(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["restore", "00000002.history", str(tmp_path / "x"), "--src", str(archive)]) == 1
    assert capsys.readouterr().err == ""
    assert not (tmp_path / "x").exists()


def test_restore_into_a_missing_directory_is_an_error(wal: Path, archive: Path, tmp_path: Path) -> None:
    main(["archive", str(wal), SEGMENT, "--dest", str(archive)])
    assert main(["restore", SEGMENT, str(tmp_path / "gone" / "x"), "--src", str(archive)]) == 2


def test_command_strings_quote_paths_and_keep_placeholders() -> None:
    assert archive_command(Path("/opt/qhb-backup/wal")) == "qluster-wal archive %p %f --dest /opt/qhb-backup/wal"
    assert restore_command(Path("/opt/qhb backup/wal")) == "qluster-wal restore %f %p --src '/opt/qhb backup/wal'"
    assert archive_command(Path("/w"), ["/opt/100%/python", "-m", "x"]).startswith("/opt/100%%/python -m x archive")
    assert archive_command(Path("/w/50%f")).endswith("--dest /w/50%%f")
    assert restore_command(Path("/w/50%f")).endswith("--src /w/50%%f")
