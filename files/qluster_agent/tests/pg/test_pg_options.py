"""PgOptions from the seed's env file values, and the managed settings they imply."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from qluster_agent.pg.flavour import POSTGRESQL, QHB, Toolset
from qluster_agent.pg.options import PgOptions, WalArchive
from qluster_agent.pg.settings import ServerRole


def test_qhb_node_from_the_seed_environment(tmp_path: Path) -> None:
    pghome = tmp_path / "usr-local-qhb"
    (pghome / "data").mkdir(parents=True)  # seed 000 §5: the templates' directory
    options = PgOptions.for_node(
        QHB,
        Toolset(pghome / "bin", QHB.binaries),
        member_id=2,
        pgdata=Path("/qhb/data"),
        pgport=5432,
        pguser="qhb",
        pghome=pghome,
        wal_archive_dir=Path("/opt/qhb-backup/wal"),
    )
    assert options.dbname == "qhb"
    assert options.application_name == "qluster_2"
    assert options.template_dir == pghome / "data"
    assert options.replication_user == options.superuser == "qhb"
    assert options.socket_dir == "/tmp"
    assert options.postmaster_log == Path("/qhb/data.postmaster.log")  # outside PGDATA
    settings = options.managed_settings(ServerRole.PRIMARY, synchronous_standby_names='ANY 1 ("qluster_1")')
    assert settings.archive_command == "qluster-wal archive %p %f --dest /opt/qhb-backup/wal"
    assert settings.restore_command == (
        "test -f /opt/qhb-backup/wal/%f && case %f in *.history) cp /opt/qhb-backup/wal/%f %p ;; "
        "*) qluster-wal restore %f %p --src /opt/qhb-backup/wal ;; esac")
    assert settings.archive_mode == "on"
    assert settings.port == 5432 and settings.unix_socket_directories == "/tmp"


def test_without_archive_or_templates_the_operator_files_decide(tmp_path: Path) -> None:
    options = PgOptions.for_node(
        POSTGRESQL,
        Toolset(Path("/usr/lib/postgresql/15/bin"), POSTGRESQL.binaries),
        member_id=1,
        pgdata=tmp_path / "data",
        pgport=5433,
        pguser="postgres",
        start_timeout_s=5,
    )
    assert options.template_dir is None and options.wal_archive is None
    assert options.start_timeout_s == 5
    settings = options.managed_settings(ServerRole.REPLICA, primary_conninfo="host=h")
    assert settings.archive_command is None and settings.restore_command is None
    assert settings.primary_conninfo == "host=h"
    assert options.managed_settings(ServerRole.PRIMARY, primary_conninfo="host=h").primary_conninfo == ""


def run_restore_command(command: str, name: str, target: Path) -> int:
    """As the server runs it: %f and %p substituted, %% undoubled, through /bin/sh."""
    line = command.replace("%f", name).replace("%p", str(target)).replace("%%", "%")
    return subprocess.run(["/bin/sh", "-c", line], check=False, capture_output=True).returncode


def test_restore_command_answers_misses_and_histories_from_the_shell_and_segments_by_program(tmp_path: Path) -> None:
    archive_dir = tmp_path / "qhb 100% backup"  # a space and a %-sign: quoted and doubled
    archive_dir.mkdir()
    (archive_dir / "00000002.history").write_text("1\t0/3000000\tno recovery target specified\n")
    (archive_dir / "000000020000000000000003").write_bytes(b"segment")
    calls = tmp_path / "calls"
    program = tmp_path / "qluster-wal"  # stands in for the program: records its arguments, then restores
    program.write_text(f"#!/bin/sh\necho \"$@\" >> '{calls}'\nexec '{sys.executable}' -m qluster_agent.walarchive \"$@\"\n")
    program.chmod(0o755)
    command = WalArchive(archive_dir, (str(program),)).restore_command
    pg_wal = tmp_path / "pg_wal"
    pg_wal.mkdir()
    assert run_restore_command(command, "00000003.history", pg_wal / "RECOVERYHISTORY") == 1
    assert run_restore_command(command, "000000020000000000000004", pg_wal / "RECOVERYXLOG") == 1
    assert not (pg_wal / "RECOVERYHISTORY").exists() and not (pg_wal / "RECOVERYXLOG").exists()
    assert run_restore_command(command, "00000002.history", pg_wal / "RECOVERYHISTORY") == 0
    assert (pg_wal / "RECOVERYHISTORY").read_text().startswith("1\t0/3000000")
    assert not calls.exists()  # neither the misses nor the history started the program
    assert run_restore_command(command, "000000020000000000000003", pg_wal / "RECOVERYXLOG") == 0
    assert (pg_wal / "RECOVERYXLOG").read_bytes() == b"segment"
    assert calls.read_text().startswith("restore 000000020000000000000003 ")
