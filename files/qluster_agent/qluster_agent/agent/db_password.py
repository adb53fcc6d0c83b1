"""Sets up the database's own roles right after `initdb` (postgres.password-file,
postgres.replication-user, postgres.replication-password-file).

With scram-sha-256 in the hba files (the role's default), replicas can clone from the leader
only if the replication user has a password; initdb creates the superuser without one. The
password comes from a file the deployment writes (not world-readable), and libpq on every node
finds it in the OS user's ~/.pgpass (postgres.passfile), which the deployment writes too.

With a replication-user of its own, streaming, base backups and the leader probe log in as that
role, which holds LOGIN and REPLICATION and no superuser power: whoever reads its password (it
sits in .pgpass on every node) can read the WAL and the data files, not run SQL as a superuser.
The superuser keeps its password from password-file (the agent's local connections use the Unix
socket; pg_rewind's connection to the leader needs a superuser).
"""

from __future__ import annotations

import logging
import stat
from dataclasses import dataclass, field
from pathlib import Path

from psycopg2 import sql

from ..config.model import PostgresSettings
from ..pg.options import PgOptions
from ..pg.query import LocalConnection

log = logging.getLogger("qluster")

PASSWORD_FILE = "password-file"
REPLICATION_PASSWORD_FILE = "replication-password-file"
# A replication role owns nothing more than it needs, whatever it was before.
REPLICATION_ROLE_ATTRIBUTES = ("LOGIN", "REPLICATION", "NOSUPERUSER", "NOCREATEDB", "NOCREATEROLE", "NOBYPASSRLS")
# The superuser's statement as it always was: REPLICATION changes nothing on a superuser (initdb
# gives the bootstrap superuser that attribute, and a superuser may start a walsender anyway).
SUPERUSER_ATTRIBUTES = ("LOGIN", "REPLICATION")
# The statements carry passwords in clear: none of them is logged, even with log_statement=ddl
# in the operator's template or when one fails.
QUIET_SETTINGS = (("log_statement", "none"), ("log_min_duration_statement", "-1"),
                  ("log_min_error_statement", "panic"))


class PasswordFileError(ValueError):
    pass


def read_password_file(path: Path, key: str = PASSWORD_FILE) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PasswordFileError(f"config error: postgres.{key}: cannot read {path}: {exc.strerror}") from None
    if mode & stat.S_IROTH:
        raise PasswordFileError(f"config error: postgres.{key}: {path} is readable by everyone; chmod 0600 it")
    if not text:
        raise PasswordFileError(f"config error: postgres.{key}: {path} is empty")
    return text


@dataclass(frozen=True)
class DatabaseRoles:
    """What to do to the roles right after initdb: the passwords read at start-up."""

    superuser_password: str | None = field(default=None, repr=False)
    replication_password: str | None = field(default=None, repr=False)
    replication_role: str | None = None  # a role of its own (not the superuser), or None

    @property
    def anything_to_do(self) -> bool:
        return self.superuser_password is not None or self.replication_role is not None


def read_database_roles(settings: PostgresSettings, options: PgOptions) -> DatabaseRoles:
    """The password files of the `postgres:` section, checked against each other and read.

    replication-password-file belongs to a replication-user of its own: refused without one,
    and required beside password-file (the role would have no password while the superuser has
    one, so a replica could not log in where the hba asks for passwords).
    """
    own_role = options.replication_user if options.replication_user != options.superuser else None
    superuser_path = Path(settings.password_file) if settings.password_file else None
    replication_path = Path(settings.replication_password_file) if settings.replication_password_file else None
    if replication_path is not None and own_role is None:
        given = settings.replication_user
        why = ("postgres.replication-user is not set" if given is None else
               f"postgres.replication-user {given!r} is the superuser, whose password is password-file's")
        raise PasswordFileError(f"config error: postgres.{REPLICATION_PASSWORD_FILE}: {str(replication_path)!r} is "
                                f"set, but {why}; name a replication role of its own or leave the key out")
    if own_role is not None and superuser_path is not None and replication_path is None:
        raise PasswordFileError(
            f"config error: postgres.{REPLICATION_PASSWORD_FILE}: not set, but required when "
            f"postgres.replication-user ({own_role!r}) is not the superuser ({options.superuser!r}) and "
            f"postgres.password-file is set: the file holding {own_role!r}'s password")
    return DatabaseRoles(
        superuser_password=read_password_file(superuser_path) if superuser_path else None,
        replication_password=read_password_file(replication_path, REPLICATION_PASSWORD_FILE) if replication_path else None,
        replication_role=own_role,
    )


@dataclass(frozen=True)
class RoleChange:
    """One CREATE ROLE or ALTER ROLE; the password is a parameter, never part of the text."""

    role: str
    create: bool
    attributes: tuple[str, ...]
    password: str | None = field(default=None, repr=False)

    def statement(self) -> tuple[sql.Composed, tuple[str, ...]]:
        verb = "CREATE ROLE {} WITH " if self.create else "ALTER ROLE {} WITH "
        text = verb + " ".join(self.attributes) + (" PASSWORD %s" if self.password is not None else "")
        return sql.SQL(text).format(sql.Identifier(self.role)), ((self.password,) if self.password is not None else ())

    def describe(self) -> str:
        action = "created" if self.create else "altered"
        return f"{action} role {self.role} ({' '.join(self.attributes)}{', password set' if self.password else ''})"


def role_changes(options: PgOptions, roles: DatabaseRoles, replication_role_exists: bool) -> tuple[RoleChange, ...]:
    """The statements after initdb, in order: the superuser's password, then the replication role."""
    changes = []
    if roles.superuser_password is not None:
        changes.append(RoleChange(options.superuser, False, SUPERUSER_ATTRIBUTES, roles.superuser_password))
    if roles.replication_role is not None:
        changes.append(RoleChange(roles.replication_role, not replication_role_exists, REPLICATION_ROLE_ATTRIBUTES,
                                  roles.replication_password))
    return tuple(changes)


def set_up_roles(options: PgOptions, roles: DatabaseRoles) -> tuple[RoleChange, ...]:
    """Apply role_changes on the local primary, as the superuser, in one transaction."""
    conn = LocalConnection(options.socket_dir, options.port, options.superuser, options.dbname).connect()
    try:
        conn.autocommit = False
        with conn.cursor() as cur:
            for name, value in QUIET_SETTINGS:
                cur.execute("SELECT pg_catalog.set_config(%s, %s, true)", (name, value))
            # Nothing but this database holds the cluster yet: the standbys clone it afterwards,
            # roles included, and with scram they need this very password to do so. A commit
            # waiting for them (the primary started with synchronous standbys already named)
            # would wait forever, and the HA loop with it.
            cur.execute("SELECT pg_catalog.set_config('synchronous_commit', 'local', true)")
            exists = False
            if roles.replication_role is not None:
                cur.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (roles.replication_role,))
                exists = cur.fetchone() is not None
            changes = role_changes(options, roles, exists)
            for change in changes:
                cur.execute(*change.statement())
        conn.commit()
    finally:
        conn.close()
    for change in changes:
        log.info("database roles: %s", change.describe())
    return changes


__all__ = ["DatabaseRoles", "PasswordFileError", "RoleChange", "read_database_roles",
           "read_password_file", "role_changes", "set_up_roles"]
