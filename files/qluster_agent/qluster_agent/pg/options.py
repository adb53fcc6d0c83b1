"""Everything the controller needs to know about the local database, fixed at start-up."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..walarchive.commands import DEFAULT_PROGRAM, archive_command, restore_command
from .commands import DEFAULT_INITDB_OPTIONS
from .conninfo import application_name_for
from .flavour import QHB_TEMPLATE_SUBDIR, Flavour, Toolset
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
        """The program, behind a shell test for the file, and `cp` for timeline histories.

        A recovering server asks for files until one is missing, and a promotion probes for
        timeline histories that do not exist yet, then copies its parent's history out of the
        archive even when pg_wal holds it. Each of those would start a Python interpreter (a
        tenth of a second on an idle machine, several tenths on a busy one), on the path of
        every failover and switchover; the shell answers a miss in a millisecond, and a history
        file (a few lines, written once per timeline and never changed) needs no more than `cp`.
        WAL segments go through the program.
        """
        # %-signs in the path would be taken for placeholders by the server: doubled.
        directory = shlex.quote(str(self.directory)).replace("%", "%%")
        program = restore_command(self.directory, self.program)
        return f"test -f {directory}/%f && case %f in *.history) cp {directory}/%f %p ;; *) {program} ;; esac"


@dataclass(frozen=True)
class PgOptions:
    flavour: Flavour
    tools: Toolset
    datadir: Path  # PGDATA
    port: int  # PGPORT
    member_id: int  # this node's consensus id: names its walreceiver
    # PGUSER: initdb's bootstrap superuser, the agent's own (local) connections, pg_rewind's
    # connection to the leader.
    superuser: str
    # pg_basebackup, primary_conninfo (streaming) and the leader probe (IDENTIFY_SYSTEM): only
    # replication connections, so a role with LOGIN REPLICATION and no superuser power will do
    # (postgres.replication-user; by default the superuser).
    replication_user: str
    socket_dir: str = "/var/run/postgresql"  # see Flavour.default_socket_dir
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
    # How much nicer than the agent the server runs (postgres.nice): its backends saturating the
    # host must not delay the agent's heartbeats and lease, or a busy leader fails over.
    nice: int = 10

    @property
    def dbname(self) -> str:
        return self.database or self.flavour.default_database

    @property
    def application_name(self) -> str:
        return application_name_for(self.member_id)

    @property
    def clone_application_name(self) -> str:
        """pg_basebackup's name while it copies the leader: never one the leader lists.

        Its WAL stream holds a temporary slot and so reports flush positions: under the member's
        own name (listed in synchronous_standby_names) the leader would count the unfinished
        copy as a synchronous standby (sync_state 'quorum'), acknowledge commits that exist only
        in it, and take the node for a streaming replica a switchover may go to. Every check
        compares names whole, so the suffix keeps the copy apart.
        """
        return f"{self.application_name}_clone"

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

    @classmethod
    def for_node(
        cls,
        flavour: Flavour,
        tools: Toolset,
        *,
        member_id: int,
        pgdata: Path,
        pgport: int,
        pguser: str,
        pghome: Path | None = None,
        wal_archive_dir: Path | None = None,
        **overrides: Any,
    ) -> "PgOptions":
        """Options from the env file of seed 000 §6.4 (PGDATA, PGPORT, PGUSER, PGHOME, BACKUP_PATH/wal).

        PGUSER is both the agent's superuser and the replication user, as in the seed's
        qhb_hba.conf (trust for 'replication all'), unless `replication_user` is given among the
        overrides (postgres.replication-user). The templates are taken from
        $PGHOME/data when that directory exists (seed 000 §5), for either flavour.
        """
        template_dir = None
        if pghome is not None and (pghome / QHB_TEMPLATE_SUBDIR).is_dir():
            template_dir = pghome / QHB_TEMPLATE_SUBDIR
        values: dict[str, Any] = {
            "flavour": flavour,
            "tools": tools,
            "datadir": pgdata,
            "port": pgport,
            "member_id": member_id,
            "superuser": pguser,
            "replication_user": pguser,
            "socket_dir": flavour.default_socket_dir,
            "template_dir": template_dir,
            "wal_archive": WalArchive(wal_archive_dir) if wal_archive_dir is not None else None,
        }
        values.update(overrides)
        return cls(**values)
