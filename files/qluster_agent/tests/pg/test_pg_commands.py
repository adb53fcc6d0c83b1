from pathlib import Path

from qluster_agent.pg.commands import (
    StopMode,
    basebackup_argv,
    controldata_argv,
    initdb_argv,
    pg_ctl_promote_argv,
    pg_ctl_reload_argv,
    pg_ctl_start_argv,
    pg_ctl_stop_argv,
    rewind_argv,
    source_server_conninfo,
)
from qluster_agent.pg.conninfo import Endpoint
from qluster_agent.pg.flavour import POSTGRESQL, QHB, Toolset

PG = Toolset(Path("/usr/lib/postgresql/15/bin"), POSTGRESQL.binaries)
QHB_TOOLS = Toolset(Path("/usr/local/qhb/bin"), QHB.binaries)
DATA = Path("/qhb/data")


def test_initdb_names_datadir_superuser_and_default_options() -> None:
    assert initdb_argv(QHB_TOOLS, DATA, "qhb") == [
        "/usr/local/qhb/bin/initdb",
        "--pgdata=/qhb/data",
        "--username=qhb",
        "--encoding=UTF8",
        "--data-checksums",
    ]


def test_initdb_options_replace_the_defaults() -> None:
    assert initdb_argv(PG, DATA, "postgres", ["--locale=C"])[-1] == "--locale=C"


def test_basebackup_streams_wal_and_checkpoints_fast() -> None:
    argv = basebackup_argv(PG, "10.0.0.1", 5432, "replicator", DATA, application_name="qluster_2")
    assert argv[0] == "/usr/lib/postgresql/15/bin/pg_basebackup"
    for flag in (
        "--pgdata=/qhb/data",
        "--host=10.0.0.1",
        "--port=5432",
        "--username=replicator",
        "--format=plain",
        "--wal-method=stream",
        "--checkpoint=fast",
        "--no-password",
    ):
        assert flag in argv
    assert "--dbname=application_name=qluster_2" in argv
    assert not any(a.startswith("--write-recovery-conf") or a == "-R" for a in argv)


def test_basebackup_and_rewind_name_the_passfile_when_given() -> None:
    argv = basebackup_argv(PG, "10.0.0.1", 5432, "replicator", DATA, application_name="qluster_2",
                           passfile="/home/qhb/.pgpass")
    assert "--dbname=application_name=qluster_2 passfile=/home/qhb/.pgpass" in argv
    assert not any(a.startswith("--dbname=") for a in basebackup_argv(PG, "10.0.0.1", 5432, "replicator", DATA))
    source = source_server_conninfo(Endpoint("10.0.0.2", 5433), "qhb", "qhb", "/home/qhb/.pgpass")
    assert source == "host=10.0.0.2 port=5433 user=qhb dbname=qhb passfile=/home/qhb/.pgpass connect_timeout=5"


def test_rewind_names_target_and_source_and_restores_wal_when_archiving() -> None:
    source = source_server_conninfo(Endpoint("10.0.0.2", 5433), "qhb", "qhb")
    assert source == "host=10.0.0.2 port=5433 user=qhb dbname=qhb connect_timeout=5"
    assert rewind_argv(PG, DATA, source) == [
        "/usr/lib/postgresql/15/bin/pg_rewind",
        "--target-pgdata=/qhb/data",
        f"--source-server={source}",
    ]
    assert rewind_argv(PG, DATA, source, restore_target_wal=True)[-1] == "--restore-target-wal"


def test_pg_ctl_commands_wait_and_name_the_datadir() -> None:
    assert pg_ctl_start_argv(PG, DATA, Path("/qhb/pg.log"), 30) == [
        "/usr/lib/postgresql/15/bin/pg_ctl",
        "start",
        "--pgdata=/qhb/data",
        "--log=/qhb/pg.log",
        "--wait",
        "--timeout=30",
    ]
    assert pg_ctl_start_argv(PG, DATA, Path("/qhb/pg.log"), 30, nice=10)[:8] == [
        "nice", "-n", "10", "ionice", "-c", "2", "-n", "7"]
    assert "--mode=immediate" in pg_ctl_stop_argv(PG, DATA, StopMode.IMMEDIATE)
    assert "--mode=fast" in pg_ctl_stop_argv(PG, DATA, StopMode.FAST)
    assert pg_ctl_stop_argv(PG, DATA, StopMode.FAST, wait=False)[-2:] == ["--mode=fast", "--no-wait"]
    assert pg_ctl_promote_argv(PG, DATA)[1:4] == ["promote", "--pgdata=/qhb/data", "--wait"]
    assert pg_ctl_reload_argv(PG, DATA) == ["/usr/lib/postgresql/15/bin/pg_ctl", "reload", "--pgdata=/qhb/data"]
    assert controldata_argv(QHB_TOOLS, DATA) == ["/usr/local/qhb/bin/pg_controldata", "/qhb/data"]
