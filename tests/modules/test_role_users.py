"""The qhb_node role's application roles (qhb_node_users), through ansible-playbook:

- the argument spec refuses a wrong type or choice in the first task of the preflight entry
  point (the one site.yml's first play runs), naming the variable;
- the preflight refuses dropping the roles the cluster needs, and malformed privileges;
- against a throwaway PostgreSQL 15 (as root, like the agent's tests): the roles, their
  privileges and the drops of db_users.yml and db_grants.yml, each run again unchanged.

No cluster and no agent: the database tasks are included on localhost, with the server as the
"leader" and its OS user postgres as the superuser.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"
PORT = 24391  # below the ephemeral range, apart from the agent's tests (25432 and up)
PASSWORD = "app-password-0123"

needs_postgres = pytest.mark.skipif(os.geteuid() != 0 or not (PG_BIN / "postgres").exists(),
                                    reason="needs root and PostgreSQL 15 in " + str(PG_BIN))


@pytest.fixture(scope="module")
def ansible(tmp_path_factory):
    """run(tasks, extra_vars, play_vars=) -> (rc, {task name: that task's result on localhost})."""
    root = tmp_path_factory.mktemp("ansible")
    (root / "collections" / "ansible_collections" / "qhb").mkdir(parents=True)
    os.symlink(REPO, root / "collections" / "ansible_collections" / "qhb" / "qluster")
    (root / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {root / 'collections'}\n"
                                      "retry_files_enabled = False\ninterpreter_python = auto_silent\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(root / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "json",
           "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False"}
    inventory = root / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"children": {"qhb_nodes": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"}}}}}}))
    counter = iter(range(1000))

    def run(tasks, extra_vars, play_vars=None, gather_facts=False):
        play = [{"hosts": "qhb_nodes", "gather_facts": gather_facts, "vars": play_vars or {}, "tasks": tasks}]
        playbook = root / f"play{next(counter)}.yml"
        playbook.write_text(json.dumps(play))
        extra = root / f"vars{next(counter)}.json"
        extra.write_text(json.dumps(extra_vars))
        done = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), "-e", f"@{extra}", str(playbook)],
                              env=env, capture_output=True, text=True, timeout=600, check=False)
        try:
            output = json.loads(done.stdout)
        except ValueError:
            raise AssertionError(f"ansible-playbook rc={done.returncode}\n{done.stdout}\n{done.stderr}") from None
        results = {}
        for task in output["plays"][0]["tasks"]:
            if "localhost" in task["hosts"]:
                # Without the role's prefix ("qhb.qluster.qhb_node : ").
                results[task["task"]["name"].split(" : ", 1)[-1]] = task["hosts"]["localhost"]
        return done.returncode, results

    yield run
    shutil.rmtree(root, ignore_errors=True)


def failure(results):
    """(task name, message) of the failed task."""
    failed = [(name, result) for name, result in results.items() if result.get("failed")]
    assert len(failed) == 1, results
    return failed[0][0], failed[0][1].get("msg", "")


# --------------------------------------------------------------------------------------------
PREFLIGHT = [{"name": "preflight", "ansible.builtin.include_role": {"name": "qhb.qluster.qhb_node",
                                                                    "tasks_from": "preflight"}}]
# What the preflight needs besides qhb_node_users on a one-host "cluster".
TOPOLOGY = {"qhb_node_allow_unsafe_topology": True, "qhb_node_wal_archive_mode": "shared_volume"}


def test_the_spec_refuses_a_wrong_type_or_choice_before_anything_else(ansible):
    users = [{"name": "app", "password": PASSWORD, "conn_limit": "lots", "state": "gone",
              "privileges": [{"database": "app", "type": "view", "privs": "SELECT", "objs": "t"},
                             {"type": "table", "privs": "SELECT", "objs": "t"}]}]
    rc, results = ansible(PREFLIGHT, dict(TOPOLOGY, qhb_node_users=users))
    assert rc != 0
    name, msg = failure(results)
    assert name.startswith("Validating arguments against arg spec 'preflight'")
    assert "qhb_node_users" in msg
    assert "conn_limit" in msg and "lots" in msg
    assert "state" in msg and "gone" in msg
    assert "type" in msg and "view" in msg
    assert "database" in msg  # required in every privilege
    assert PASSWORD not in json.dumps(results)


def test_the_preflight_refuses_to_drop_the_clusters_own_roles(ansible):
    users = [{"name": "qluster_replication", "state": "absent"}, {"name": "app", "password": PASSWORD}]
    rc, results = ansible(PREFLIGHT, dict(TOPOLOGY, qhb_node_users=users), gather_facts=True)
    assert rc != 0
    name, msg = failure(results)
    assert name == "Refuse to drop the roles the cluster itself needs"
    assert "qhb_node_users marks qluster_replication absent" in msg
    assert "qluster_replication is the replication role (qhb_node_replication_user)" in msg

    users = [{"name": "qhb", "state": "absent"}, {"name": "qluster_pooler", "state": "absent"}]
    rc, results = ansible(PREFLIGHT, dict(TOPOLOGY, qhb_node_users=users), gather_facts=True)
    name, msg = failure(results)
    assert name == "Refuse to drop the roles the cluster itself needs"
    assert "qhb is the superuser" in msg and "qluster_pooler is the pooler's auth role" in msg


def test_the_preflight_refuses_malformed_users_and_privileges(ansible):
    rc, results = ansible(PREFLIGHT, dict(TOPOLOGY, qhb_node_users=[{"name": "app"}]), gather_facts=True)
    name, msg = failure(results)
    assert name == "Check the application roles of qhb_node_users"
    assert "a role that logs in needs a password (missing for: app)" in msg

    users = [{"name": "app", "password": PASSWORD, "privileges": [
        {"database": "app", "type": "group", "objs": "readers", "privs": "SELECT"},
        {"database": "app", "type": "table", "objs": "t"},
        {"database": "app", "type": "schema", "privs": "USAGE"},
        {"database": "app", "type": "table", "objs": "t", "privs": "SELECT", "target_roles": "owner"}]}]
    rc, results = ansible(PREFLIGHT, dict(TOPOLOGY, qhb_node_users=users), gather_facts=True)
    name, msg = failure(results)
    assert name == "Check the privileges of qhb_node_users"
    assert "app on group in app: a group membership takes objs (the groups), not privs" in msg
    assert "app on table in app: privs is missing" in msg
    assert "app on schema in app: objs is missing" in msg
    assert "app on table in app: target_roles is for type default_privs only" in msg

    users = [{"name": "app", "state": "absent"}]
    rc, results = ansible(PREFLIGHT, dict(TOPOLOGY, qhb_node_users=users,
                                          qhb_node_databases=[{"name": "app", "owner": "app"}]), gather_facts=True)
    name, msg = failure(results)
    assert name == "Refuse a database whose owner qhb_node_users marks absent"
    assert "qhb_node_databases gives app to app, which qhb_node_users marks absent" in msg


def test_a_well_formed_list_passes_the_preflights_user_checks(ansible):
    users = [{"name": "app", "password": PASSWORD, "conn_limit": 10, "privileges": [
        {"database": "app", "type": "database", "privs": "CONNECT"},
        {"database": "app", "type": "table", "objs": "ALL_IN_SCHEMA", "schema": "public", "privs": ["SELECT", "INSERT"]},
        {"database": "app", "type": "default_privs", "objs": "TABLES", "privs": "SELECT", "target_roles": ["app"]},
        {"database": "app", "type": "group", "objs": "readers"}]},
        {"name": "readers", "login": False}, {"name": "old_app", "state": "absent"}]
    _rc, results = ansible(PREFLIGHT, dict(TOPOLOGY, qhb_node_users=users), gather_facts=True)
    validation = next(name for name in results if name.startswith("Validating arguments against arg spec 'preflight'"))
    for name in (validation, "Refuse to drop the roles the cluster itself needs",
                 "Check the application roles of qhb_node_users", "Check the privileges of qhb_node_users",
                 "Refuse a database whose owner qhb_node_users marks absent"):
        assert name in results and not results[name].get("failed"), (name, results.get(name))


# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    """A PostgreSQL 15 of its own, its socket in a directory postgres owns; peer for the socket."""
    root = Path(tempfile.mkdtemp(prefix="qhb-role-users-", dir="/tmp"))
    user = pwd.getpwnam(OS_USER)
    os.chmod(root, 0o755)
    os.chown(root, user.pw_uid, user.pw_gid)

    def as_postgres(*argv, **kwargs):
        return subprocess.run(["runuser", "-u", OS_USER, "--", *argv], capture_output=True, text=True,
                              check=True, timeout=120, **kwargs)

    as_postgres(str(PG_BIN / "initdb"), "-D", str(root / "data"), "-U", OS_USER, "--auth-local=peer",
                "--auth-host=scram-sha-256")
    as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w", "start", "-o",
                f"-p {PORT} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off")
    try:
        yield root
    finally:
        subprocess.run(["runuser", "-u", OS_USER, "--", str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-m",
                        "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def sql(server, query, database="postgres"):
    done = subprocess.run(["runuser", "-u", OS_USER, "--", str(PG_BIN / "psql"), "-h", str(server), "-p", str(PORT),
                           "-d", database, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", query],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


DB_TASKS = [{"name": name, "ansible.builtin.include_role": {"name": "qhb.qluster.qhb_node", "tasks_from": name},
             "vars": {"qhb_node_socket_dir": "{{ socket_dir }}"}} for name in ("db_users.yml", "db_grants.yml")]


def run_db_tasks(ansible, server, users):
    play_vars = {"socket_dir": str(server), "ansible_become_method": "su", "qhb_node_user": OS_USER,
                 "qhb_node_port": PORT, "qhb_node_pg_home": str(PG_BIN.parent), "qhb_node_databases_leader": "localhost"}
    tasks = [{"name": "the database tasks", "environment": {"PGHOST": str(server)}, "block": DB_TASKS}]
    return ansible(tasks, {"qhb_node_users": users}, play_vars=play_vars)


def changed(results):
    return sorted(name for name, result in results.items() if result.get("changed"))


@needs_postgres
def test_roles_privileges_and_drops_on_a_real_server(ansible, server):
    sql(server, "CREATE DATABASE app")
    sql(server, "CREATE TABLE t1 (i int); CREATE TABLE t2 (i int); CREATE ROLE readers", "app")
    users = [
        {"name": "app", "password": PASSWORD, "conn_limit": 20, "privileges": [
            {"database": "app", "type": "database", "privs": "CONNECT"},
            {"database": "app", "type": "schema", "objs": "public", "privs": "USAGE"},
            {"database": "app", "type": "table", "objs": "ALL_IN_SCHEMA", "schema": "public", "privs": "SELECT"},
            {"database": "app", "type": "table", "objs": ["t1"], "privs": ["INSERT", "UPDATE"]},
            {"database": "app", "type": "default_privs", "objs": "TABLES", "schema": "public", "privs": "SELECT"},
            {"database": "app", "type": "group", "objs": "readers"}]},
        {"name": "report-ro", "login": False, "privileges": [
            {"database": "app", "type": "table", "objs": "t2", "privs": "SELECT", "grant_option": True}]},
    ]
    rc, results = run_db_tasks(ansible, server, users)
    assert rc == 0, results
    assert changed(results) == ["Create the applications' roles, or bring them to their password, login and connection limit",
                                "Grant the privileges of the applications' roles (or revoke those marked absent)"]
    assert PASSWORD not in json.dumps(results)
    assert sql(server, "SELECT rolname, rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname IN ('app', 'report-ro')"
                       " ORDER BY 1") == "app|t|20\nreport-ro|f|-1"
    checks = ("SELECT has_database_privilege('app', 'app', 'CONNECT'), has_schema_privilege('app', 'public', 'USAGE'),"
              " has_table_privilege('app', 't2', 'SELECT'), has_table_privilege('app', 't1', 'INSERT'),"
              " has_table_privilege('app', 't2', 'INSERT'), pg_has_role('app', 'readers', 'MEMBER'),"
              " has_table_privilege('report-ro', 't2', 'SELECT WITH GRANT OPTION')")
    assert sql(server, checks, "app") == "t|t|t|t|f|t|t"
    # A table made later by the superuser: SELECT through the default privileges.
    sql(server, "CREATE TABLE t3 (i int)", "app")
    assert sql(server, "SELECT has_table_privilege('app', 't3', 'SELECT')", "app") == "t"
    login = subprocess.run([str(PG_BIN / "psql"), f"host=127.0.0.1 port={PORT} dbname=app user=app", "-AtXc",
                            "SELECT current_user"], env={**os.environ, "PGPASSWORD": PASSWORD},
                           capture_output=True, text=True, timeout=60, check=False)
    assert login.stdout.strip() == "app", login.stderr

    rc, results = run_db_tasks(ansible, server, users)
    assert rc == 0 and changed(results) == [], results

    # A revoked privilege and a new password.
    users[0]["password"] = PASSWORD + "-new"
    users[0]["privileges"][3]["state"] = "absent"
    rc, results = run_db_tasks(ansible, server, users)
    assert rc == 0, results
    assert sql(server, "SELECT has_table_privilege('app', 't1', 'INSERT')", "app") == "f"
    assert len([r for r in results["Grant the privileges of the applications' roles (or revoke those marked absent)"]
                ["results"] if r["changed"]]) == 1

    # Dropped: refused while the role owns something, then done once it owns nothing.
    sql(server, 'CREATE TABLE owned (i int); ALTER TABLE owned OWNER TO "report-ro"', "app")
    gone = [{"name": "app", "state": "absent"}, {"name": "report-ro", "state": "absent"}]
    rc, results = run_db_tasks(ansible, server, gone)
    name, msg = failure(results)
    assert name == "Refuse to drop a role that owns a database or objects"
    assert "report-ro owns objects in the database app" in msg and "No role was dropped" in msg
    assert sql(server, "SELECT count(*) FROM pg_roles WHERE rolname IN ('app', 'report-ro')") == "2"

    sql(server, "ALTER TABLE owned OWNER TO postgres", "app")
    rc, results = run_db_tasks(ansible, server, gone)
    assert rc == 0, results
    assert sql(server, "SELECT count(*) FROM pg_roles WHERE rolname IN ('app', 'report-ro')") == "0"
    assert sql(server, "SELECT count(*) FROM pg_default_acl", "app") == "0"
    assert sql(server, "SELECT count(*) FROM t3", "app") == "0"  # nothing but the roles went
    rc, results = run_db_tasks(ansible, server, gone)
    assert rc == 0 and changed(results) == [], results
