"""postgres.replication-user and postgres.replication-password-file: a replication role of its own.

Without them nothing changes: the superuser (PGUSER) streams, and password-file gives it its
password right after initdb. With a replication-user that is not the superuser, that role is
created (or altered) with LOGIN REPLICATION and no superuser power, from its own password file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg2 import sql

from qluster_agent.agent.db_password import (
    REPLICATION_ROLE_ATTRIBUTES,
    DatabaseRoles,
    PasswordFileError,
    RoleChange,
    read_database_roles,
    role_changes,
)
from qluster_agent.agent.env import AgentEnv
from qluster_agent.agent.pg_setup import pg_options
from qluster_agent.config.errors import ConfigError

from .postgres_section import postgres

ENV = AgentEnv(config_path=Path("/etc/qluster/config.yaml"), pgdata=Path("/qhb/data"), pgport=5432,
               pguser="qhb", pghome=Path("/usr/lib/postgresql/15"), backup_path=None)


def secret_file(tmp_path: Path, name: str, content: str = "s3cret\n", mode: int = 0o600) -> str:
    path = tmp_path / name
    path.write_text(content)
    path.chmod(mode)
    return str(path)


def roles_of(section: dict) -> DatabaseRoles:
    settings = postgres(section)
    return read_database_roles(settings, pg_options(settings, ENV, 1))


# --- replication-user ------------------------------------------------------------------------

def test_without_the_key_the_superuser_replicates_as_before():
    options = pg_options(postgres({}), ENV, 1)
    assert options.replication_user == options.superuser == "qhb"
    # The default follows the superuser key: initdb creates no other role.
    options = pg_options(postgres({"superuser": "postgres"}), ENV, 1)
    assert options.replication_user == options.superuser == "postgres"


@pytest.mark.parametrize("name", ["qluster_replication", "replicator", "_r", "r$2", "r" * 63, "qhb"])
def test_a_role_name_is_taken(name):
    assert pg_options(postgres({"replication-user": name}), ENV, 1).replication_user == name


@pytest.mark.parametrize("value", ["", "1replicator", "$r", "Replicator", "repl-user", "repl user", "r" * 64,
                                   "pg_replication", "public", "none", "réplique", 7, True, ["r"]])
def test_anything_else_is_refused_naming_the_key_the_value_and_the_rule(value):
    with pytest.raises(ConfigError) as caught:  # with the rest of config.yaml, before anything starts
        postgres({"replication-user": value})
    message = str(caught.value)
    assert message.startswith("config error: postgres.replication-user: ")
    assert repr(value)[:20] in message
    assert "is not a role name (1 to 63 characters of a-z, 0-9, _ and $" in message


# --- replication-password-file -----------------------------------------------------------------

def test_no_keys_nothing_to_do():
    assert not roles_of({}).anything_to_do


def test_password_file_alone_is_the_superusers_as_before(tmp_path):
    roles = roles_of({"password-file": secret_file(tmp_path, "db-password")})
    assert roles == DatabaseRoles(superuser_password="s3cret", replication_role=None)
    assert roles.anything_to_do


def test_a_replication_role_of_its_own_gets_its_own_password(tmp_path):
    roles = roles_of({"replication-user": "qluster_replication",
                      "password-file": secret_file(tmp_path, "db-password"),
                      "replication-password-file": secret_file(tmp_path, "repl-password", "other\n")})
    assert roles.superuser_password == "s3cret"
    assert roles.replication_password == "other"
    assert roles.replication_role == "qluster_replication"
    assert "s3cret" not in repr(roles) and "other" not in repr(roles)


def test_a_replication_role_without_any_password_file_is_still_created():
    # Authentication by certificate or trust: the role must exist all the same.
    roles = roles_of({"replication-user": "qluster_replication"})
    assert roles == DatabaseRoles(replication_role="qluster_replication")
    assert roles.anything_to_do


def test_a_replication_password_without_the_superusers_is_taken(tmp_path):
    roles = roles_of({"replication-user": "qluster_replication",
                      "replication-password-file": secret_file(tmp_path, "repl-password")})
    assert roles.superuser_password is None and roles.replication_password == "s3cret"


def test_it_is_required_beside_password_file(tmp_path):
    with pytest.raises(PasswordFileError, match=r"^config error: postgres\.replication-password-file: not set, but "
                       r"required when postgres\.replication-user \('qluster_replication'\) is not the superuser "
                       r"\('qhb'\) and postgres\.password-file is set"):
        roles_of({"replication-user": "qluster_replication", "password-file": secret_file(tmp_path, "db-password")})


def test_it_is_refused_without_replication_user(tmp_path):
    path = secret_file(tmp_path, "repl-password")
    with pytest.raises(PasswordFileError, match=r"^config error: postgres\.replication-password-file: '.*repl-password' "
                       r"is set, but postgres\.replication-user is not set"):
        roles_of({"replication-password-file": path})


def test_it_is_refused_when_replication_user_names_the_superuser(tmp_path):
    path = secret_file(tmp_path, "repl-password")
    with pytest.raises(PasswordFileError, match=r"postgres\.replication-user 'qhb' is the superuser, whose password "
                       r"is password-file's"):
        roles_of({"replication-user": "qhb", "replication-password-file": path})


@pytest.mark.parametrize("mode,content,fragment", [
    (0o644, "pw", "is readable by everyone; chmod 0600 it"),
    (0o600, "  \n", "is empty"),
])
def test_the_same_file_rules_as_password_file(tmp_path, mode, content, fragment):
    path = secret_file(tmp_path, "repl-password", content, mode)
    with pytest.raises(PasswordFileError, match=rf"^config error: postgres\.replication-password-file: .*{fragment}"):
        roles_of({"replication-user": "qluster_replication", "replication-password-file": path})


def test_a_missing_or_relative_file_is_refused(tmp_path):
    with pytest.raises(PasswordFileError, match=r"postgres\.replication-password-file: cannot read .*/absent"):
        roles_of({"replication-user": "r", "replication-password-file": str(tmp_path / "absent")})
    with pytest.raises(ConfigError, match=r"postgres\.replication-password-file: 'repl' is not an absolute path"):
        roles_of({"replication-user": "r", "replication-password-file": "repl"})


# --- what happens after initdb -----------------------------------------------------------------

def changes(section: dict, exists: bool = False) -> list[tuple[str, bool, tuple[str, ...], str | None]]:
    settings = postgres(section)
    options = pg_options(settings, ENV, 1)
    return [(c.role, c.create, c.attributes, c.password)
            for c in role_changes(options, read_database_roles(settings, options), exists)]


def test_after_initdb_without_a_role_of_its_own_the_superuser_gets_its_password_as_before(tmp_path):
    assert changes({}) == []
    assert changes({"password-file": secret_file(tmp_path, "pw")}) == [("qhb", False, ("LOGIN", "REPLICATION"), "s3cret")]
    assert changes({"replication-user": "qhb", "password-file": secret_file(tmp_path, "pw")}) == [
        ("qhb", False, ("LOGIN", "REPLICATION"), "s3cret")]


def test_after_initdb_the_replication_role_is_created_without_superuser_power(tmp_path):
    section = {"replication-user": "qluster_replication", "password-file": secret_file(tmp_path, "pw"),
               "replication-password-file": secret_file(tmp_path, "rpw", "other")}
    attributes = ("LOGIN", "REPLICATION", "NOSUPERUSER", "NOCREATEDB", "NOCREATEROLE", "NOBYPASSRLS")
    assert REPLICATION_ROLE_ATTRIBUTES == attributes
    assert changes(section) == [("qhb", False, ("LOGIN", "REPLICATION"), "s3cret"),
                                ("qluster_replication", True, attributes, "other")]
    # A role of that name already there (a template database, an operator's) loses any power.
    assert changes(section, exists=True)[1] == ("qluster_replication", False, attributes, "other")
    assert changes({"replication-user": "qluster_replication"}) == [("qluster_replication", True, attributes, None)]


def test_the_statements_take_the_password_as_a_parameter():
    create = RoleChange("qluster_replication", True, ("LOGIN", "REPLICATION"), "it's")
    assert create.statement() == (sql.SQL("CREATE ROLE {} WITH LOGIN REPLICATION PASSWORD %s").format(
        sql.Identifier("qluster_replication")), ("it's",))
    alter = RoleChange("r", False, ("LOGIN", "NOSUPERUSER"))
    assert alter.statement() == (sql.SQL("ALTER ROLE {} WITH LOGIN NOSUPERUSER").format(sql.Identifier("r")), ())
    assert "it's" not in repr(create) and "it's" not in create.describe()
    assert create.describe() == "created role qluster_replication (LOGIN REPLICATION, password set)"
