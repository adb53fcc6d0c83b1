"""PgOptions from the seed's env file values, and the managed settings they imply."""

from __future__ import annotations

from pathlib import Path

from qluster_agent.pg.flavour import POSTGRESQL, QHB, Toolset
from qluster_agent.pg.options import PgOptions
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
    assert settings.restore_command == "qluster-wal restore %f %p --src /opt/qhb-backup/wal"
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
