"""Everything the controller needs to know about the local database, fixed at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..walarchive.commands import DEFAULT_PROGRAM, archive_command, restore_command
from .commands import DEFAULT_INITDB_OPTIONS
from .conninfo import application_name_for
from .flavour import Flavour, Toolset
from .settings import ManagedSettings, ServerRole


@dataclass(frozen=True)
class WalArchive:
    """The shared archive (BACKUP_PATH/wal, on NFS in production) and the program using it."""

    directory: Path
    program: tuple[str, ...] = DEFAULT_PROGRAM

    @property
    def archive_command(self) -> str:
        return archive_command(self.directory, self.program)

    @property
    def restore_command(self) -> str:
        return restore_command(self.directory, self.program)


@dataclass(frozen=True)
class PgOptions:
    flavour: Flavour
    tools: Toolset
    datadir: Path  # PGDATA
    port: int  # PGPORT
    member_id: int  # this node's consensus id: names its walreceiver
    superuser: str  # PGUSER: the agent's own connections, pg_rewind's source connection
    replication_user: str  # pg_basebackup and primary_conninfo
    socket_dir: str = "/var/run/postgresql"
    database: str | None = None  # None: the flavour's default (qhb / postgres)
    template_dir: Path | None = None  # seed 000: /usr/local/qhb/data
    log_file: Path | None = None  # None: <PGDATA>/../<name>.postmaster.log (outside PGDATA)
    run_as: str | None = None  # OS user for subprocesses when the agent runs as root (tests)
    initdb_options: tuple[str, ...] = DEFAULT_INITDB_OPTIONS
    wal_archive: WalArchive | None = None
    passfile: str | None = None
    start_timeout_s: int = 60
    fast_stop_timeout_s: int = 10
    extra_settings: tuple[tuple[str, str | int | bool], ...] = field(default_factory=tuple)

    @property
    def dbname(self) -> str:
        return self.database or self.flavour.default_database

    @property
    def application_name(self) -> str:
        return application_name_for(self.member_id)

    @property
    def postmaster_log(self) -> Path:
        return self.log_file or self.datadir.parent / f"{self.datadir.name}.postmaster.log"

    def managed_settings(
        self, role: ServerRole, primary_conninfo: str = "", synchronous_standby_names: str = ""
    ) -> ManagedSettings:
        archive = self.wal_archive
        return ManagedSettings(
            role=role,
            port=self.port,
            unix_socket_directories=self.socket_dir,
            primary_conninfo=primary_conninfo if role is ServerRole.REPLICA else "",
            synchronous_standby_names=synchronous_standby_names,
            archive_mode="on" if archive else None,
            archive_command=archive.archive_command if archive else None,
            restore_command=archive.restore_command if archive else None,
            extra=self.extra_settings,
        )
