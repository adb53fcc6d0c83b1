"""The `postgres:` section of config.yaml (config/keys.py POSTGRES_KEYS, parsed and validated
with the rest of the file) plus the env file, turned into the supervisor's options.

Only what depends on the env file is checked here: wal-archive's default and BACKUP_PATH, the
superuser's default (PGUSER), and the bin directory found from PGHOME.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..config.model import PostgresSettings
from ..pg.bindir import toolset_for
from ..pg.flavour import flavour_for
from ..pg.options import PgOptions, WalArchive
from .env import AgentEnv

# Failover speed on the database side. A standby whose primary died retries WAL retrieval only
# every wal_retrieve_retry_interval (PostgreSQL's default 5 s): with quorum commit the new
# leader's first write waits for a standby to stream from it, so that pause would be the
# failover time. Dead connections are noticed within the receiver/sender timeouts.
FAILOVER_SETTINGS: tuple[tuple[str, str], ...] = (
    ("wal_retrieve_retry_interval", "200ms"),
    ("wal_receiver_timeout", "10s"),
    ("wal_sender_timeout", "10s"),
)


class PgSetupError(ValueError):
    pass


def marker_path(settings: PostgresSettings) -> Path:
    return Path(settings.add_node_marker)


def pg_options(settings: PostgresSettings, env: AgentEnv, member_id: int) -> PgOptions:
    flavour = flavour_for(settings.flavour)
    archive_on = settings.wal_archive if settings.wal_archive is not None else env.backup_path is not None
    if archive_on and env.wal_archive_dir is None:
        raise PgSetupError("config error: postgres.wal-archive is true but BACKUP_PATH is not set")
    tools = toolset_for(flavour, Path(settings.bin_dir) if settings.bin_dir else None, env.pghome)
    superuser = settings.superuser or env.pguser
    return PgOptions(
        flavour=flavour,
        tools=tools,
        datadir=env.pgdata,
        port=env.pgport,
        member_id=member_id,
        superuser=superuser,
        replication_user=settings.replication_user or superuser,
        socket_dir=settings.socket_dir,
        database=settings.database,
        template_dir=Path(settings.template_dir) if settings.template_dir else None,
        run_as=settings.run_as,
        # The agent's own interpreter by absolute path: the server's PATH may not hold the
        # virtualenv, and a restore_command that is "not found" stops recovery for good.
        wal_archive=WalArchive(env.wal_archive_dir, (sys.executable, "-m", "qluster_agent.walarchive")) if archive_on else None,
        passfile=settings.passfile,
        extra_settings=FAILOVER_SETTINGS,
        nice=settings.nice,
    )
