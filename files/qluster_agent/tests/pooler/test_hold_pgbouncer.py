"""The switchover hold against a real PgBouncer 1.18 in front of a real PostgreSQL.

What a client of the transaction-pooled database would notice is checked: PAUSE waits for its
transaction in flight to commit, a query sent while paused waits and runs after RESUME, the hold
file exists exactly while every database is paused, and neither a switchover that never
completes nor a sync that stops leaves PgBouncer paused. The last tests run the whole sync: a
real HAProxy between PgBouncer and PostgreSQL, the nodes' health APIs and the map faked.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import psycopg2
import pytest

from qluster_agent.pooler.haproxy import RuntimeApi
from qluster_agent.pooler.hold import DROP_GRACE, Action, Stage
from qluster_agent.pooler.holder import Holder
from qluster_agent.pooler.pgbouncer import READY_RETRY, AdminAccess, AdminConsole, AdminError
from qluster_agent.pooler.ratelimit import RateLimitedLog
from qluster_agent.pooler.settings import parse_settings
from qluster_agent.pooler.sync import Syncer, admin_console, open_session_log

from .conftest import ADMIN_PASSWORD, ADMIN_USER
from .test_sync_haproxy import HAPROXY, FakeAgent, FakeNode, haproxy, servers, wait_for  # noqa: F401 pylint: disable=unused-import


def console_for(bouncer, password: str = ADMIN_PASSWORD, timeout: float = 2.0) -> AdminConsole:
    return AdminConsole(AdminAccess(bouncer.socket_dir, bouncer.port, ADMIN_USER, password, timeout))


def paused(bouncer) -> bool:
    rows = console_for(bouncer).run("SHOW DATABASES")
    return {row[0]: row for row in rows}["qhb_tx"][11] == 1  # name ... paused disabled


def transaction(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchall()
    conn.commit()


class Query(threading.Thread):
    """One transaction in the background: a new client of `dbname` (it logs in first), or the next
    one of the connected client `conn`; `finished` is when it came back."""

    def __init__(self, bouncer=None, conn=None, dbname: str = "qhb_tx") -> None:
        super().__init__(daemon=True)
        self.bouncer = bouncer
        self.conn = conn
        self.dbname = dbname
        self.finished: float | None = None
        self.error: Exception | None = None
        self.start()

    def run(self) -> None:
        try:
            if self.conn is not None:
                transaction(self.conn)
            else:
                conn = self.bouncer.client(self.dbname)
                try:
                    transaction(conn)
                finally:
                    conn.close()
            self.finished = time.monotonic()
        except psycopg2.Error as exc:
            self.error = exc


def make_holder(bouncer, tmp_path, lines: list[str], timeout: float = 15.0) -> Holder:
    def say(level, message):
        lines.append(message)
    return Holder(console_for(bouncer), ("qhb_tx",), str(tmp_path / "hold.json"), timeout, say,
                  RateLimitedLog(say, 60.0))


def step_until(holder: Holder, action: Action, leader, target, routed=False, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        decision = holder.step(leader, target, routed, time.monotonic())
        if decision.action is action:
            return decision
        assert time.monotonic() < deadline, f"no {action} within {timeout} s: {decision.reason}"
        time.sleep(0.02)


def test_the_admin_console_answers_and_names_a_refusal(start_pgbouncer, postgres):
    bouncer = start_pgbouncer(postgres.port)
    console = console_for(bouncer)
    assert "qhb_tx" in {row[0] for row in console.run("SHOW DATABASES")}
    with pytest.raises(AdminError, match="database qhb_tx is not paused"):
        console.run("RESUME qhb_tx")
    with pytest.raises(AdminError, match="SASL authentication failed"):
        console_for(bouncer, password="wrong-password-000").run("SHOW DATABASES")
    with pytest.raises(AdminError, match="PgBouncer's admin console at /nonexistent"):
        AdminConsole(AdminAccess("/nonexistent", bouncer.port, ADMIN_USER, ADMIN_PASSWORD)).run("SHOW DATABASES")
    with pytest.raises(ValueError):
        console.run("PAUSE qhb_tx; SHUTDOWN")


def ready_connections(console: AdminConsole, count: int) -> list:
    """`count` connections kept ready, once every one is logged in."""
    wait_for(lambda: console.keep_ready(count) or all(p.connected for p in console.ready), timeout=5,
             what="connections to the admin console logged in")
    return list(console.ready)


def test_a_command_goes_out_on_a_connection_kept_ready_without_logging_in(start_pgbouncer, postgres):
    bouncer = start_pgbouncer(postgres.port)
    console = console_for(bouncer)
    ready = ready_connections(console, 2)
    assert len(ready) == 2
    pending = console.start("PAUSE qhb_tx")
    assert pending is ready[0] and console.ready == ready[1:]  # sent at once, on a logged-in connection
    wait_for(pending.poll, what="the PAUSE answered")
    assert paused(bouncer)
    console.run("RESUME qhb_tx")
    console.keep_ready(2)
    assert len(console.ready) == 2  # the one used is replaced
    console.close()
    assert not console.ready


def test_a_connection_kept_ready_still_logging_in_is_finished_and_used(start_pgbouncer, postgres):
    """The sync advances the logins of its ready connections once a round; a hold that begins
    meanwhile finishes one rather than dropping it (PgBouncer logs that as a failed login)."""
    bouncer = start_pgbouncer(postgres.port)
    console = console_for(bouncer)
    console.keep_ready(1)  # connecting: not logged in yet
    ready = list(console.ready)
    assert not ready[0].connected
    pending = console.start("PAUSE qhb_tx")
    assert pending is ready[0]
    wait_for(pending.poll, what="the PAUSE answered")
    console.run("RESUME qhb_tx")
    assert "SASL authentication failed" not in bouncer.log()


def test_a_connection_kept_ready_that_pgbouncer_closed_is_dropped(start_pgbouncer, postgres):
    bouncer = start_pgbouncer(postgres.port)
    console = console_for(bouncer)
    ready = ready_connections(console, 1)
    bouncer.process.terminate()  # PgBouncer stops (or restarts): its admin clients are closed
    bouncer.process.wait(10)
    wait_for(lambda: console.keep_ready(1) or ready[0] not in console.ready, what="the closed connection dropped")
    assert not console.ready  # and none made while PgBouncer is away
    with pytest.raises(AdminError, match="PgBouncer's admin console at "):
        console.start("PAUSE qhb_tx")


def test_a_refused_connection_kept_ready_is_tried_again_only_after_a_while(start_pgbouncer, postgres):
    bouncer = start_pgbouncer(postgres.port)
    now = [100.0]
    console = AdminConsole(AdminAccess(bouncer.socket_dir, bouncer.port, ADMIN_USER, "wrong-password-000"),
                           clock=lambda: now[0])
    console.keep_ready(1)
    wait_for(lambda: console.keep_ready(1) or not console.ready, what="the refused login dropped")
    for _round in range(20):  # rounds of the sync, at the same moment: no new login to PgBouncer
        console.keep_ready(1)
    assert not console.ready
    now[0] += READY_RETRY
    console.keep_ready(1)
    assert len(console.ready) == 1  # tried again


def test_a_hold_waits_for_the_transaction_in_flight_and_holds_new_queries_until_resumed(start_pgbouncer, postgres,
                                                                                        tmp_path):
    bouncer = start_pgbouncer(postgres.port)
    lines: list[str] = []
    holder = make_holder(bouncer, tmp_path, lines)
    hold_file = tmp_path / "hold.json"
    busy = bouncer.client()  # a client in a transaction when the switchover is announced
    with busy.cursor() as cur:
        cur.execute("SELECT 1")
    assert holder.step(1, 2, False, time.monotonic()).action is Action.PAUSE
    time.sleep(0.3)
    assert holder.step(1, 2, False, time.monotonic()).action is Action.NOTHING
    assert holder.state.stage is Stage.PAUSING and not hold_file.exists()
    late = Query(bouncer)  # arrives while paused: waits
    time.sleep(0.3)
    assert late.finished is None and late.error is None
    committed = time.monotonic()
    busy.commit()  # the transaction in flight ends: PAUSE answers
    step_until(holder, Action.ANNOUNCE, 1, 2)
    assert json.loads(hold_file.read_text()) == {"held_for": 2}
    assert stat.S_IMODE(hold_file.stat().st_mode) == 0o644
    assert paused(bouncer)
    assert any("paused for node 2 after" in line for line in lines), lines
    time.sleep(0.3)
    assert late.finished is None  # still held
    assert holder.step(None, 2, False, time.monotonic()).action is Action.NOTHING  # the election
    assert holder.step(2, None, False, time.monotonic()).action is Action.NOTHING  # not routed yet
    resumed = time.monotonic()
    assert holder.step(2, None, True, time.monotonic()).action is Action.RESUME
    assert not hold_file.exists() and not paused(bouncer)
    late.join(5)
    assert late.error is None and late.finished is not None and late.finished >= resumed > committed
    assert busy.closed == 0  # the paused client was never cut
    with busy.cursor() as cur:
        cur.execute("SELECT 2")
        assert cur.fetchall() == [(2,)]
    busy.close()
    assert any("resuming after" in line for line in lines), lines
    assert holder.step(2, 2, True, time.monotonic()).action is Action.NOTHING  # the same switchover: once


def test_a_switchover_that_never_completes_is_resumed_after_the_bound(start_pgbouncer, postgres, tmp_path):
    bouncer = start_pgbouncer(postgres.port)
    lines: list[str] = []
    holder = make_holder(bouncer, tmp_path, lines, timeout=1.0)
    started = time.monotonic()
    holder.step(1, 2, False, started)
    step_until(holder, Action.ANNOUNCE, 1, 2)
    late = Query(bouncer)
    step_until(holder, Action.RESUME, 1, 2, timeout=3.0)
    late.join(5)
    assert late.error is None and late.finished is not None and late.finished - started >= 1.0
    assert not (tmp_path / "hold.json").exists() and not paused(bouncer)
    assert any("has not completed within 1 s" in line for line in lines), lines


def test_a_dropped_switchover_resumes_after_the_grace(start_pgbouncer, postgres, tmp_path):
    bouncer = start_pgbouncer(postgres.port)
    holder = make_holder(bouncer, tmp_path, [])
    holder.step(1, 2, False, time.monotonic())
    step_until(holder, Action.ANNOUNCE, 1, 2)
    dropped = time.monotonic()
    step_until(holder, Action.RESUME, 1, None)
    assert DROP_GRACE <= time.monotonic() - dropped < DROP_GRACE + 0.5
    assert not paused(bouncer)


def test_a_resume_pgbouncer_does_not_answer_is_retried_until_it_does(start_pgbouncer, postgres, tmp_path):
    bouncer = start_pgbouncer(postgres.port)
    lines: list[str] = []
    holder = make_holder(bouncer, tmp_path, lines)
    holder.step(1, 2, False, time.monotonic())
    step_until(holder, Action.ANNOUNCE, 1, 2)
    real = holder.console
    holder.console = console_for(bouncer, password="wrong-password-000")  # RESUME cannot get through
    step_until(holder, Action.RESUME, 1, None)
    assert paused(bouncer) and not holder.active and holder.to_resume == {"qhb_tx"}
    assert any("cannot resume qhb_tx" in line for line in lines), lines
    holder.console = real
    holder.step(1, None, False, time.monotonic())
    assert not paused(bouncer) and not holder.to_resume


def test_start_and_stop_resume_whatever_may_be_paused(start_pgbouncer, postgres, tmp_path):
    bouncer = start_pgbouncer(postgres.port)
    console_for(bouncer).run("PAUSE qhb_tx")
    (tmp_path / "hold.json").write_text('{"held_for": 2}')
    lines: list[str] = []
    make_holder(bouncer, tmp_path, lines).release_all("starting", time.monotonic())
    assert not paused(bouncer) and not (tmp_path / "hold.json").exists()
    assert lines == ["hold: starting: qhb_tx not paused (RESUME sent)"]


def test_a_start_before_pgbouncer_knows_the_admin_user_says_why_and_goes_on(start_pgbouncer, postgres, tmp_path):
    bouncer = start_pgbouncer(postgres.port)
    lines: list[str] = []
    holder = make_holder(bouncer, tmp_path, lines)
    holder.console = console_for(bouncer, password="wrong-password-000")
    holder.release_all("starting", time.monotonic())
    assert len(lines) == 1 and "starting: could not resume qhb_tx: " in lines[0] and "SASL authentication failed" in lines[0]
    assert not holder.to_resume and not holder.active  # nothing of its own to retry


@pytest.mark.parametrize("session_log", [False, True], ids=["sleeping", "listening-to-haproxy"])
def test_sigterm_resumes_pgbouncer_before_the_sync_exits(start_pgbouncer, postgres, tmp_path, session_log):
    bouncer = start_pgbouncer(postgres.port)
    (tmp_path / "password").write_text(ADMIN_PASSWORD + "\n")
    config = {**({"haproxy-session-log": str(tmp_path / "sessions.sock")} if session_log else {}),
              "map-url": "http://127.0.0.1:1/map", "haproxy-socket": str(tmp_path / "none.sock"),
              "state-file": str(tmp_path / "members.json"), "hold-databases": ["qhb_tx"],
              "hold-file": str(tmp_path / "hold.json"), "pgbouncer-socket-dir": bouncer.socket_dir,
              "pgbouncer-port": bouncer.port, "pgbouncer-admin-user": ADMIN_USER,
              "pgbouncer-password-file": str(tmp_path / "password"), "max-backoff": "30s"}
    (tmp_path / "sync.yaml").write_text(json.dumps(config))
    sync = subprocess.Popen([sys.executable, "-m", "qluster_agent.pooler.sync", "--config", str(tmp_path / "sync.yaml")],
                            stderr=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__)))))
    try:
        wait_for(lambda: "starting: qhb_tx not paused" in bouncer.log() or sync.poll() is not None
                 or "RESUME 'qhb_tx'" in bouncer.log(), what="the sync's start")
        time.sleep(0.5)
        console_for(bouncer).run("PAUSE qhb_tx")  # as if a hold were on
        (tmp_path / "hold.json").write_text('{"held_for": 2}')
        stopping = time.monotonic()
        sync.send_signal(signal.SIGTERM)
        assert sync.wait(10) == 0
        assert time.monotonic() - stopping < 2  # not after its backoff pause
    finally:
        if sync.poll() is None:
            sync.kill()
    assert not paused(bouncer) and not (tmp_path / "hold.json").exists()
    assert "hold: stopping" in sync.stderr.read()
    assert not (tmp_path / "sessions.sock").exists()  # its socket removed on the way out


def test_settings_name_an_unreadable_password_file(tmp_path):
    settings = parse_settings({"hold-databases": ["qhb_tx"], "pgbouncer-password-file": str(tmp_path / "absent")})
    with pytest.raises(Exception, match="pgbouncer-password-file: cannot read"):
        admin_console(settings)
    assert admin_console(parse_settings({})) is None


# ------------------------------------------------------------------------ the whole sync
@pytest.fixture
def routed(haproxy, start_pgbouncer, postgres, tmp_path):
    """PgBouncer -> HAProxy's read-write frontend -> PostgreSQL; two nodes whose health APIs are
    fake and whose database port is that PostgreSQL; the agent's map fake; a sync with the hold,
    of qhb_tx and of the session-pooled `postgres` (PgBouncer's `*` entry)."""
    if HAPROXY is None:
        pytest.skip("needs the haproxy binary")
    bouncer = start_pgbouncer(haproxy["rw"])
    nodes = [FakeNode("qluster-01"), FakeNode("qluster-02")]
    nodes[0].role = "primary"
    agent = FakeAgent()
    agent.leader = 1
    agent.members = [dict(nodes[0].row(1, "leader"), db_port=postgres.port), dict(nodes[1].row(2), db_port=postgres.port)]
    lines: list[str] = []
    overrides = {"interval": "100ms", "hold-timeout": "5s", "hold-session-databases": ["postgres"]}
    syncer = routed_syncer(haproxy, bouncer, agent, tmp_path, lines, overrides)
    yield {"bouncer": bouncer, "nodes": nodes, "agent": agent, "syncer": syncer, "lines": lines, "haproxy": haproxy}
    for node in nodes:
        node.close()
    agent.close()


def routed_syncer(haproxy, bouncer, agent, tmp_path, lines: list[str], overrides: dict) -> Syncer:
    """A sync with the hold for `bouncer`, reading `agent`'s map, whose qluster-01 is the leader and
    up in pg_rw after its first rounds; its log lines go to `lines`."""
    (tmp_path / "password").write_text(ADMIN_PASSWORD + "\n")
    # Slow checks: a server changes state in HAProxy when the sync says so, not by itself.
    settings = parse_settings({
        "map-url": agent.url, "haproxy-socket": haproxy["socket"], "state-file": str(tmp_path / "members.json"),
        "server-options": "check inter 10s fastinter 10s downinter 10s fall 3 rise 1 on-marked-down shutdown-sessions",
        "hold-databases": ["qhb_tx"], "hold-file": str(tmp_path / "hold.json"),
        "pgbouncer-socket-dir": bouncer.socket_dir, "pgbouncer-port": bouncer.port,
        "pgbouncer-admin-user": ADMIN_USER, "pgbouncer-password-file": str(tmp_path / "password"), **overrides})
    syncer = Syncer(settings, emit=lambda level, message: lines.append(message), console=admin_console(settings),
                    session_log=open_session_log(settings))
    syncer.holder.release_all("starting", time.monotonic())
    syncer.round(time.monotonic())
    RuntimeApi(haproxy["socket"]).run("set server pg_rw/qluster-01 health up")  # its first check, at once
    syncer.round(time.monotonic())
    assert servers(haproxy, "pg_rw")["qluster-01"].op_state == 2 and syncer.routed
    return syncer


def run_rounds(syncer, seconds: float, until=lambda: False) -> list[float]:
    """Rounds as run_forever runs them (each pause slept), for `seconds` or until `until()`."""
    pauses = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not until():
        pauses.append(syncer.round(time.monotonic()))
        time.sleep(pauses[-1])
    return pauses


def test_the_sync_holds_clients_across_a_switchover_and_resumes_them_on_the_new_leader(routed, tmp_path):
    bouncer, nodes, agent, syncer, lines = (routed[k] for k in ("bouncer", "nodes", "agent", "syncer", "lines"))
    hold_file = tmp_path / "hold.json"
    assert run_rounds(syncer, 0.3)[-1] == pytest.approx(0.1)  # nothing announced: the normal interval
    started = syncer.holder.reconnected_at
    assert started is not None  # the start reconnects what was not paused
    busy = bouncer.client()
    with busy.cursor() as cur:
        cur.execute("SELECT 1")
    agent.switchover_to = 2  # the leader announces the switchover
    pauses = run_rounds(syncer, 0.3)
    assert max(pauses) == pytest.approx(0.05)  # fast rounds while a switchover is announced
    assert syncer.holder.state.stage is Stage.PAUSING and not hold_file.exists()
    late = Query(bouncer)
    busy.commit()
    run_rounds(syncer, 2, until=hold_file.exists)
    assert json.loads(hold_file.read_text()) == {"held_for": 2}
    # The old leader demotes, the new one is elected and promotes; the sync puts it in.
    nodes[0].role = "replica"
    # It has handed over and names no target any more, and the observer has not heard of the new
    # leader yet: not a dropped switchover (for DROP_GRACE).
    agent.leader, agent.switchover_to = 1, None
    run_rounds(syncer, 0.5)
    assert late.finished is None and hold_file.exists()
    agent.leader = None
    agent.members = [dict(m, role="follower") for m in agent.members]
    run_rounds(syncer, 0.3)
    assert late.finished is None and hold_file.exists()
    agent.leader, agent.switchover_to = 2, None
    run_rounds(syncer, 0.3)
    assert late.finished is None  # elected, not writable yet: still held
    promoted = time.monotonic()
    nodes[1].role = "primary"
    run_rounds(syncer, 3, until=lambda: not hold_file.exists())
    late.join(5)
    assert late.error is None and late.finished is not None and late.finished >= promoted
    state = servers(routed["haproxy"], "pg_rw")
    assert (state["qluster-02"].op_state, state["qluster-01"].op_state) == (2, 0)  # resumed onto the new route
    assert not paused(bouncer)
    assert busy.closed == 0
    busy.close()
    # A finished PAUSE closed every server connection: the RECONNECT closed none, and the end of the
    # new leader's sessions right after the hold is news (a failover hold starts on it).
    assert syncer.holder.reconnected_at == started
    assert any("qluster-02 is up now" in line for line in lines), lines
    assert any("switchover hold: node 2 leads and takes writes through HAProxy: resuming after" in line for line in lines)
    assert run_rounds(syncer, 0.3)[-1] == pytest.approx(0.1)  # back to the normal interval


def test_the_sync_resumes_after_hold_timeout_when_the_switchover_never_completes(routed, tmp_path):
    bouncer, agent, syncer, lines = (routed[k] for k in ("bouncer", "agent", "syncer", "lines"))
    started = time.monotonic()
    agent.switchover_to = 2  # announced, and then the leader neither hands over nor drops it
    run_rounds(syncer, 2, until=(tmp_path / "hold.json").exists)
    late = Query(bouncer)
    run_rounds(syncer, 8, until=lambda: not (tmp_path / "hold.json").exists())
    late.join(5)
    assert late.error is None and 5.0 <= late.finished - started < 6.0
    assert not paused(bouncer)
    assert syncer.holder.state.spent == 2 and run_rounds(syncer, 0.3) and not paused(bouncer)  # not again
    assert any("has not completed within 5 s" in line for line in lines), lines


def test_a_login_to_a_session_pooled_name_waits_through_a_switchover_instead_of_failing(routed):
    """The session-pooled names are paused with the hold (their PAUSE ends only once their sessions
    have: nothing waits for it): a client that logs in meanwhile - one whose session the old
    leader's demotion ended, say - waits and gets a server on the new leader."""
    bouncer, nodes, agent, syncer = (routed[k] for k in ("bouncer", "nodes", "agent", "syncer"))
    session = bouncer.client("postgres")  # PgBouncer now knows the name (its `*` entry)
    with session.cursor() as cur:
        cur.execute("SELECT 1")  # and a transaction is under way in it
    agent.switchover_to = 2
    run_rounds(syncer, 2, until=lambda: syncer.holder.state.stage is Stage.HELD)
    # Announced at once all the same: PgBouncer answers every PAUSE only once every paused database
    # is idle, so the session-pooled names are paused once the transaction-pooled ones are.
    assert syncer.holder.state.stage is Stage.HELD
    login = Query(bouncer, dbname="postgres")
    session.commit()
    transaction(session)  # a session under way goes on
    run_rounds(syncer, 0.3)
    assert login.finished is None and login.error is None
    nodes[0].role, nodes[1].role = "replica", "primary"
    agent.leader, agent.switchover_to = 2, None
    promoted = time.monotonic()
    run_rounds(syncer, 3, until=lambda: not syncer.holder.active)
    login.join(5)
    assert login.error is None and login.finished >= promoted
    session.close()
