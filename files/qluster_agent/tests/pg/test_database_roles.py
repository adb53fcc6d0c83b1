"""The roles set up right after initdb, against a real PostgreSQL 15 (agent/db_password.py).

One transaction as the superuser: its password, then the replication role created, or altered
out of any power it had. The statements carry passwords, and the server logs none of them even
with log_statement = 'all'.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from qluster_agent.agent.db_password import DatabaseRoles, set_up_roles
from qluster_agent.pg.controller import PgController
from qluster_agent.pg.sync import ASYNCHRONOUS, SyncStandbys

from pg_lab_support import OS_USER, Lab

pytestmark = pytest.mark.timeout(120)

# A port of its own (FIRST_PORT + id - 1), apart from the other modules' servers.
NODE_ID = 71
WAITING_ID = 72
ROLE = "qluster_replication"
ATTRIBUTES = "SELECT rolsuper, rolreplication, rolcanlogin, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles "


@pytest.fixture(scope="module")
def primary(lab: Lab) -> PgController:
    controller = lab.node(NODE_ID)
    controller.bootstrap(ASYNCHRONOUS)
    lab.query(controller, "ALTER SYSTEM SET log_statement = 'all'")
    lab.query(controller, "SELECT pg_reload_conf()")
    return controller


def verifier(lab: Lab, node: PgController, role: str) -> str:
    return lab.query(node, "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))[0][0]


def test_the_role_is_created_and_altered_back_to_least_privilege(lab: Lab, primary: PgController) -> None:
    options = replace(primary.options, replication_user=ROLE)
    changes = set_up_roles(options, DatabaseRoles("superuser-pw-1", "replication-pw-1", ROLE))
    assert [(c.role, c.create) for c in changes] == [(OS_USER, False), (ROLE, True)]
    assert lab.query(primary, ATTRIBUTES + "WHERE rolname = %s", (ROLE,)) == [(False, True, True, False, False, False)]
    first = verifier(lab, primary, ROLE)
    assert first.startswith("SCRAM-SHA-256$") and verifier(lab, primary, OS_USER).startswith("SCRAM-SHA-256$")
    # A role of that name holding powers (made by hand, say) loses them; the password is replaced.
    lab.query(primary, f"ALTER ROLE {ROLE} SUPERUSER CREATEDB CREATEROLE BYPASSRLS")
    changes = set_up_roles(options, DatabaseRoles("superuser-pw-1", "replication-pw-2", ROLE))
    assert [(c.role, c.create) for c in changes] == [(OS_USER, False), (ROLE, False)]
    assert lab.query(primary, ATTRIBUTES + "WHERE rolname = %s", (ROLE,)) == [(False, True, True, False, False, False)]
    assert verifier(lab, primary, ROLE) != first
    # The superuser keeps its powers.
    assert lab.query(primary, ATTRIBUTES + "WHERE rolname = %s", (OS_USER,))[0][:3] == (True, True, True)


def test_the_server_logs_no_password(lab: Lab, primary: PgController) -> None:
    log = primary.options.postmaster_log.read_text(errors="replace")
    assert f"ALTER ROLE {ROLE} SUPERUSER" in log  # statements are logged...
    for password in ("superuser-pw-1", "replication-pw-1", "replication-pw-2"):
        assert password not in log  # ... but not these


def test_a_failed_statement_changes_nothing(lab: Lab, primary: PgController) -> None:
    before = verifier(lab, primary, OS_USER)
    # The superuser's password first, then a role that cannot be created (a name that is not
    # a role name is refused by the config; here a reserved one makes the transaction fail).
    options = replace(primary.options, replication_user="pg_reserved")
    with pytest.raises(Exception, match="reserved"):
        set_up_roles(options, DatabaseRoles("superuser-pw-3", "replication-pw-3", "pg_reserved"))
    assert verifier(lab, primary, OS_USER) == before
    log = primary.options.postmaster_log.read_text(errors="replace")
    assert "is reserved" in log  # the error is logged, the failed statement is not
    assert "superuser-pw-3" not in log and "replication-pw-3" not in log


def test_the_roles_are_set_up_while_the_standbys_named_for_commits_do_not_exist_yet(lab: Lab) -> None:
    # A bootstrap decided once the joiners were voters (a retry after a failed initdb, say)
    # starts the primary with synchronous standbys that will clone only after the roles exist:
    # with scram, the replication role's password is what lets them clone. A commit waiting
    # for them would wait forever, and the HA loop with it.
    controller = lab.node(WAITING_ID)
    controller.bootstrap(SyncStandbys(1, ("qluster_nobody_yet",)))
    done = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            set_up_roles(controller.options, DatabaseRoles("superuser-pw-4"))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failed.append(exc)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(20), "setting up the roles waited for standbys that do not exist yet"
    assert not failed
    assert verifier(lab, controller, OS_USER).startswith("SCRAM-SHA-256$")
    assert lab.query(controller, "SHOW synchronous_standby_names") == [('ANY 1 ("qluster_nobody_yet")',)]
