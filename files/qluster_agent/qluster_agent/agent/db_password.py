"""Gives the database's own users their password right after `initdb` (postgres.password-file).

With scram-sha-256 in the hba files (the role's default), replicas can clone from the leader
only if the replication user has a password; initdb creates it without one. The password comes
from a file the deployment writes (not world-readable), and libpq on every node finds it in the
OS user's ~/.pgpass, which the deployment writes too.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from psycopg2 import sql

from ..pg.options import PgOptions
from ..pg.query import LocalConnection

log = logging.getLogger("qluster")


class PasswordFileError(ValueError):
    pass


def read_password_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PasswordFileError(f"config error: postgres.password-file: cannot read {path}: {exc.strerror}") from None
    if mode & stat.S_IROTH:
        raise PasswordFileError(f"config error: postgres.password-file: {path} is readable by everyone; chmod 0600 it")
    if not text:
        raise PasswordFileError(f"config error: postgres.password-file: {path} is empty")
    return text


def set_passwords(options: PgOptions, password: str) -> None:
    """ALTER ROLE ... PASSWORD for the superuser and the replication user, on the local primary."""
    conn = LocalConnection(options.socket_dir, options.port, options.superuser, options.dbname).connect()
    try:
        with conn.cursor() as cur:
            for user in sorted({options.superuser, options.replication_user}):
                cur.execute(sql.SQL("ALTER ROLE {} WITH LOGIN REPLICATION PASSWORD %s").format(sql.Identifier(user)),
                            (password,))
    finally:
        conn.close()
    log.info("set the password of database user(s) %s from the password file",
             ", ".join(sorted({options.superuser, options.replication_user})))


def password_file_path(section: dict) -> Path | None:
    value = section.get("password-file")
    if value is None:
        return None
    if not isinstance(value, str) or not os.path.isabs(value):
        raise PasswordFileError(f"config error: postgres.password-file: {value!r} is not an absolute path")
    return Path(value)


__all__ = ["PasswordFileError", "password_file_path", "read_password_file", "set_passwords"]
