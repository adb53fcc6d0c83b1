"""Which database role each connection uses (postgres.replication-user).

The replication role makes replication connections only: base backups, streaming and the leader
probe. Everything that needs a superuser (initdb, the agent's own session, pg_rewind) keeps the
superuser, and every connection to the leader names postgres.passfile.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import qluster_agent.pg.controller as controller_module
from qluster_agent.pg.basebackup import Cloner
from qluster_agent.pg.bootstrap import Bootstrapper
from qluster_agent.pg.config_files import ConfigFiles
from qluster_agent.pg.conninfo import Endpoint, parse_conninfo
from qluster_agent.pg.controller import PgController
from qluster_agent.pg.files import FileWriter
from qluster_agent.pg.flavour import POSTGRESQL, Toolset
from qluster_agent.pg.leader_probe import LeaderIdentity
from qluster_agent.pg.options import PgOptions
from qluster_agent.pg.process import CommandResult, CommandRunner
from qluster_agent.pg.rewind import Rewinder
from qluster_agent.pg.server import ServerControl
from qluster_agent.pg.settings import MANAGED_FILE_NAME
from qluster_agent.pg.status_reader import StatusReader
from qluster_agent.pg.sync import ASYNCHRONOUS

LEADER = Endpoint("10.0.0.1", 5432)
PASSFILE = "/home/qhb/.pgpass"


class RecordingRunner(CommandRunner):
    def __init__(self) -> None:
        super().__init__(None)
        self.argvs: list[list[str]] = []

    def run(self, argv, **kwargs) -> CommandResult:
        self.argvs.append(list(argv))
        return CommandResult(tuple(argv), 0, "", "")


def options(datadir: Path, replication_user: str = "qluster_replication", passfile: str | None = PASSFILE) -> PgOptions:
    return PgOptions(flavour=POSTGRESQL, tools=Toolset(Path("/usr/lib/postgresql/15/bin"), POSTGRESQL.binaries),
                     datadir=datadir, port=5432, member_id=2, superuser="qhb", replication_user=replication_user,
                     passfile=passfile)


def flag(argv: list[str], name: str) -> str:
    [value] = [a.removeprefix(f"--{name}=") for a in argv if a.startswith(f"--{name}=")]
    return value


def test_the_base_backup_logs_in_as_the_replication_role_with_the_passfile(tmp_path: Path) -> None:
    runner = RecordingRunner()
    Cloner(options(tmp_path / "data"), runner, FileWriter()).clone(LEADER)
    [argv] = runner.argvs
    assert flag(argv, "username") == "qluster_replication"
    assert parse_conninfo(flag(argv, "dbname")) == {"application_name": "qluster_2_clone", "passfile": PASSFILE}


def test_without_a_passfile_the_base_backup_leaves_it_to_libpq(tmp_path: Path) -> None:
    runner = RecordingRunner()
    Cloner(options(tmp_path / "data", passfile=None), runner, FileWriter()).clone(LEADER)
    assert parse_conninfo(flag(runner.argvs[0], "dbname")) == {"application_name": "qluster_2_clone"}


def test_pg_rewind_connects_as_the_superuser_with_the_passfile(tmp_path: Path) -> None:
    runner = RecordingRunner()
    Rewinder(options(tmp_path / "data"), runner).rewind(LEADER)
    [argv] = runner.argvs
    source = parse_conninfo(flag(argv, "source-server"))
    assert source["user"] == "qhb"
    assert source["passfile"] == PASSFILE
    assert source["host"] == "10.0.0.1" and source["dbname"] == "postgres"


def test_initdb_creates_the_superuser_and_the_agent_reads_its_server_as_it(tmp_path: Path) -> None:
    opts = options(tmp_path / "data")
    runner = RecordingRunner()
    writer = FileWriter()
    server = ServerControl(opts, runner)
    Bootstrapper(opts, runner, writer, ConfigFiles(opts.flavour, opts.datadir, writer), server).bootstrap(ASYNCHRONOUS)
    assert flag(runner.argvs[0], "username") == "qhb"
    assert StatusReader(opts, server).connection.user == "qhb"


def test_streaming_names_the_replication_role_and_the_passfile(tmp_path: Path) -> None:
    # A stopped node's demote writes the standby settings it will start with.
    datadir = tmp_path / "data"
    (datadir / "global").mkdir(parents=True)
    (datadir / "global" / "pg_control").write_bytes(b"\0")
    (datadir / "PG_VERSION").write_text("15\n")
    (datadir / "postgresql.conf").write_text("")
    PgController(options(datadir)).demote(LEADER)
    [line] = [x for x in (datadir / MANAGED_FILE_NAME).read_text().splitlines() if x.startswith("primary_conninfo")]
    conninfo = parse_conninfo(line.split("=", 1)[1].strip().strip("'").replace("''", "'"))
    assert conninfo["user"] == "qluster_replication"
    assert conninfo["passfile"] == PASSFILE
    assert conninfo["application_name"] == "qluster_2"


def test_the_leader_probe_logs_in_as_the_replication_role(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def identify(leader, user, passfile):
        calls.append((leader, user, passfile))
        return LeaderIdentity(system_identifier=7, timeline=3, wal_position=16)

    monkeypatch.setattr(controller_module, "identify_leader", identify)
    mark = PgController(options(tmp_path / "data")).position_of(LEADER)
    assert mark is not None and mark.timeline == 3
    assert calls == [(LEADER, "qluster_replication", PASSFILE)]


def test_one_role_for_both_as_before(tmp_path: Path) -> None:
    opts = options(tmp_path / "data", replication_user="qhb")
    runner = RecordingRunner()
    Cloner(opts, runner, FileWriter()).clone(LEADER)
    Rewinder(opts, runner).rewind(LEADER)
    assert flag(runner.argvs[0], "username") == "qhb"
    assert parse_conninfo(flag(runner.argvs[1], "source-server"))["user"] == "qhb"
