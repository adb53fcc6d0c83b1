"""A switchover's demote ends the applications' sessions between their transactions (real PostgreSQL 15).

Issue 18 item 4: a session pooler in session mode closes its client when the server session
ends; ended at a transaction's boundary, the application's next statement gets the error and no
transaction is cut half done. A plain demote (a stray primary's) does not wait.
"""

from __future__ import annotations

import threading

import psycopg2
import pytest

from qluster_agent.pg.controller import PgController
from qluster_agent.pg.status import DbRole

from pg_lab_support import Lab, wait_until

pytestmark = pytest.mark.timeout(120)


def new_primary(lab: Lab, member_id: int) -> PgController:
    controller = lab.node(member_id)
    controller.bootstrap()
    lab.query(controller, "CREATE TABLE ledger (id int PRIMARY KEY)")
    return controller


def in_transaction(lab: Lab, controller: PgController, row_id: int) -> psycopg2.extensions.connection:
    conn = lab.connect(controller)
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute("INSERT INTO ledger VALUES (%s)", (row_id,))
    return conn


def idle_session(lab: Lab, controller: PgController) -> psycopg2.extensions.connection:
    conn = lab.connect(controller)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    return conn


def backend_state(lab: Lab, controller: PgController, pid: int) -> str | None:
    rows = lab.query(controller, "SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,))
    return rows[0][0] if rows else None


def test_a_transaction_under_way_commits_and_an_idle_session_is_ended_before_the_shutdown(lab):
    primary = new_primary(lab, 1)
    busy = in_transaction(lab, primary, 1)
    idle = idle_session(lab, primary)
    demoted = threading.Thread(target=primary.demote, kwargs={"close_sessions_within": 10.0})
    demoted.start()
    try:
        # The idle session is ended while the server still runs and waits for the transaction.
        wait_until(lambda: backend_state(lab, primary, idle.get_backend_pid()) is None, 10, "the idle session ended")
        assert primary.status().role is DbRole.PRIMARY
        busy.commit()  # it would have been cut by a fast shutdown started at once
    finally:
        demoted.join(30)
    assert not demoted.is_alive()
    with pytest.raises(psycopg2.Error):
        with idle.cursor() as cur:
            cur.execute("SELECT 1")
    # Committed before the shutdown checkpoint: in the WAL a switchover's target receives.
    control = primary.status()
    assert control.role in (DbRole.STOPPED, DbRole.UNAVAILABLE)


def test_the_wait_for_a_transaction_is_bounded(lab):
    primary = new_primary(lab, 2)
    stuck = in_transaction(lab, primary, 2)  # never commits
    primary.demote(close_sessions_within=0.5)
    with pytest.raises(psycopg2.Error):
        stuck.commit()
    assert primary.status().role in (DbRole.STOPPED, DbRole.UNAVAILABLE)
