"""The `postgres:` section of config.yaml plus the env file, turned into the supervisor's options.

Keys (all optional):
  flavour           postgresql (default) or qhb
  bin-dir           where initdb, pg_ctl, ... live (default: found from the flavour, PGHOME)
  template-dir      the operator's config templates copied into PGDATA (seed 000 §6.1-6.2)
  superuser         initdb's, the agent's own and pg_rewind's database user (default PGUSER)
  replication-user  role for base backups, streaming and the leader probe (default: the
                    superuser). Another name: a role of its own, created right after initdb
                    with LOGIN REPLICATION and no superuser power (least privilege)
  database          database the agent connects to (default: the flavour's)
  socket-dir        unix socket directory (default /var/run/postgresql)
  passfile          .pgpass for the connections to the leader (streaming, base backups, the
                    leader probe, pg_rewind); default libpq's (~/.pgpass)
  add-node-marker   path of the add_node marker (default /opt/qluster/add_node)
  run-as            OS user for database programs when the agent itself runs as root
  wal-archive       true (default when BACKUP_PATH is set): archive to BACKUP_PATH/wal
  password-file     password given to the superuser right after initdb (and to replication-user
                    when that is the superuser)
  replication-password-file
                    password given to replication-user right after initdb; required with a
                    replication-user of its own and password-file, refused without one
  nice              how much nicer than the agent the server runs, 0..19 (default 10), with
                    the lowest best-effort disk priority when above 0
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from ..config.values import shown
from ..ha.marker import DEFAULT_MARKER_PATH
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

KNOWN_KEYS = {"password-file", "flavour", "bin-dir", "template-dir", "superuser", "replication-user", "database",
              "socket-dir", "passfile", "add-node-marker", "run-as", "wal-archive", "nice",
              "replication-password-file"}
# A role the agent creates and names in connection strings and on command lines: a PostgreSQL
# identifier that needs no quoting anywhere (lower case, at most NAMEDATALEN - 1 = 63 bytes).
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_$]{0,62}")
_RESERVED_ROLES = ("public", "none")  # CREATE ROLE refuses these, and names starting with pg_
ROLE_NAME_RULE = ("1 to 63 characters of a-z, 0-9, _ and $, starting with a letter or _, "
                  "not starting with pg_, not public or none")
NICE_RANGE = range(0, 20)
DEFAULT_NICE = 10


class PgSetupError(ValueError):
    pass


def _path(section: dict[str, Any], key: str) -> Path | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/"):
        raise PgSetupError(f"config error: postgres.{key}: {value!r} is not an absolute path")
    return Path(value)


def _text(section: dict[str, Any], key: str, default: str | None) -> str | None:
    value = section.get(key, default)
    if value is not None and (not isinstance(value, str) or not value):
        raise PgSetupError(f"config error: postgres.{key}: {value!r} is not a non-empty string")
    return value


def _role_name(section: dict[str, Any], key: str) -> str | None:
    value = section.get(key)
    if value is None:
        return None
    if (not isinstance(value, str) or not _ROLE_NAME.fullmatch(value) or value.startswith("pg_")
            or value in _RESERVED_ROLES):
        raise PgSetupError(f"config error: postgres.{key}: {shown(value)} is not a role name ({ROLE_NAME_RULE})")
    return value


def marker_path(section: dict[str, Any]) -> Path:
    return _path(section, "add-node-marker") or DEFAULT_MARKER_PATH


def pg_options(section: dict[str, Any], env: AgentEnv, member_id: int) -> PgOptions:
    unknown = sorted(set(section) - KNOWN_KEYS)
    if unknown:
        raise PgSetupError(f"config error: postgres.{unknown[0]}: unknown key (known: {', '.join(sorted(KNOWN_KEYS))})")
    kind = section.get("flavour", "postgresql")
    if kind not in ("postgresql", "qhb"):
        raise PgSetupError(f"config error: postgres.flavour: {kind!r} is not postgresql or qhb")
    flavour = flavour_for(kind)
    archive_on = section.get("wal-archive", env.backup_path is not None)
    if not isinstance(archive_on, bool):
        raise PgSetupError(f"config error: postgres.wal-archive: {archive_on!r} is not a boolean")
    if archive_on and env.wal_archive_dir is None:
        raise PgSetupError("config error: postgres.wal-archive is true but BACKUP_PATH is not set")
    tools = toolset_for(flavour, _path(section, "bin-dir"), env.pghome)
    nice = section.get("nice", DEFAULT_NICE)
    if isinstance(nice, bool) or not isinstance(nice, int) or nice not in NICE_RANGE:
        raise PgSetupError(f"config error: postgres.nice: {nice!r} is out of range 0..19")
    superuser = _text(section, "superuser", env.pguser)
    return PgOptions(
        flavour=flavour,
        tools=tools,
        datadir=env.pgdata,
        port=env.pgport,
        member_id=member_id,
        superuser=superuser,
        replication_user=_role_name(section, "replication-user") or superuser,
        socket_dir=_text(section, "socket-dir", "/var/run/postgresql"),
        database=_text(section, "database", None),
        template_dir=_path(section, "template-dir"),
        run_as=_text(section, "run-as", None),
        # The agent's own interpreter by absolute path: the server's PATH may not hold the
        # virtualenv, and a restore_command that is "not found" stops recovery for good.
        wal_archive=WalArchive(env.wal_archive_dir, (sys.executable, "-m", "qluster_agent.walarchive")) if archive_on else None,
        passfile=_text(section, "passfile", None),
        extra_settings=FAILOVER_SETTINGS,
        nice=nice,
    )
