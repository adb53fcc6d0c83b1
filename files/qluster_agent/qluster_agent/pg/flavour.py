"""The two database flavours the agent supervises, as plain data.

Stock PostgreSQL and QHB ("Квант-Гибрид") run the same way; they differ in file and binary
names. One setting (`FlavourKind`) picks the whole set, so nothing else in the agent spells a
file name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path


class FlavourKind(enum.Enum):
    POSTGRESQL = "postgresql"
    QHB = "qhb"


@dataclass(frozen=True)
class BinaryNames:
    """File names of the programs the supervisor runs, relative to the flavour's bin dir."""

    initdb: str = "initdb"
    ctl: str = "pg_ctl"
    basebackup: str = "pg_basebackup"
    rewind: str = "pg_rewind"
    controldata: str = "pg_controldata"
    waldump: str = "pg_waldump"
    server: str = "postgres"
    psql: str = "psql"


@dataclass(frozen=True)
class Flavour:
    kind: FlavourKind
    config_file: str
    hba_file: str
    ident_file: str
    binaries: BinaryNames
    # Database the agent connects to for status queries (seed 000 connects with -d qhb).
    default_database: str
    # OS user that owns the data directory and runs the server (seed 000: qhb).
    default_os_user: str
    # Where the server puts its Unix socket and the agent connects. The agent writes
    # unix_socket_directories itself, so any directory the database user can write works.
    default_socket_dir: str

    @property
    def config_files(self) -> tuple[str, str, str]:
        """The files an operator's templates may provide (seed 000 §6.1-6.2)."""
        return (self.config_file, self.hba_file, self.ident_file)


POSTGRESQL = Flavour(
    kind=FlavourKind.POSTGRESQL,
    config_file="postgresql.conf",
    hba_file="pg_hba.conf",
    ident_file="pg_ident.conf",
    binaries=BinaryNames(),
    default_database="postgres",
    default_os_user="postgres",
    default_socket_dir="/var/run/postgresql",  # Debian's packages
)

# QHB keeps PostgreSQL's tool names under PGHOME/bin; the seeds name only psql
# (/usr/local/qhb/bin/psql). The server binary is called `qhb` (the seed's `ps aux | grep qhb`
# and config_base_name: qhb in the vendor's Patroni notes, seed 004); the other names are the most
# plausible defaults and are fields so a site whose packages differ can override them.
QHB = Flavour(
    kind=FlavourKind.QHB,
    config_file="qhb.conf",
    hba_file="qhb_hba.conf",
    ident_file="qhb_ident.conf",
    binaries=BinaryNames(server="qhb"),
    default_database="qhb",
    default_os_user="qhb",
    # The seeds do not say; /tmp is the compiled-in default of PostgreSQL-derived builds.
    default_socket_dir="/tmp",
)

# Seed 000 §6.4: PGHOME=/usr/local/qhb, binaries in $PGHOME/bin; §5-6: the configuration
# templates (qhb.conf, qhb_hba.conf) in $PGHOME/data.
QHB_DEFAULT_HOME = Path("/usr/local/qhb")
QHB_TEMPLATE_SUBDIR = "data"


def flavour_for(kind: FlavourKind | str) -> Flavour:
    """The flavour named by the `flavour` setting ('postgresql' or 'qhb')."""
    kind = FlavourKind(kind)
    return QHB if kind is FlavourKind.QHB else POSTGRESQL


@dataclass(frozen=True)
class Toolset:
    """Absolute paths of the programs, once the bin dir is known."""

    bin_dir: Path
    names: BinaryNames

    def path(self, name: str) -> str:
        return str(self.bin_dir / name)

    @property
    def initdb(self) -> str:
        return self.path(self.names.initdb)

    @property
    def ctl(self) -> str:
        return self.path(self.names.ctl)

    @property
    def basebackup(self) -> str:
        return self.path(self.names.basebackup)

    @property
    def rewind(self) -> str:
        return self.path(self.names.rewind)

    @property
    def controldata(self) -> str:
        return self.path(self.names.controldata)

    @property
    def waldump(self) -> str:
        return self.path(self.names.waldump)

    @property
    def server(self) -> str:
        return self.path(self.names.server)
