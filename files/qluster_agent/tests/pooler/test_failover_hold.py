"""The failover hold against a real PgBouncer 1.18, a real HAProxy and a real PostgreSQL.

The leader's host is killed: its database port goes silent (a relay in front of PostgreSQL stops
passing bytes, as a dead host neither answers nor refuses) and the map stops hearing it. What a
client of the transaction-pooled database would notice is checked: its transaction in flight at
the crash fails, a transaction it starts once the sync has noticed waits and then runs on the new
leader, and a client that logs in meanwhile waits instead of being refused; a false alarm costs
a stall and no error; a leader that never comes back is not waited for past the bound.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

import psycopg2
import pytest

from qluster_agent.pooler.hold import Kind, Stage
from qluster_agent.pooler.sync import RECONNECT_QUIET

from .test_hold_pgbouncer import Query, paused, routed_syncer, run_rounds, transaction
from .test_sync_haproxy import HAPROXY, FakeAgent, FakeNode, haproxy, servers, start_haproxy, wait_for  # noqa: F401 pylint: disable=unused-import

NODE_TIMEOUT = 0.8  # silence after 0.25 s, bound 1.6 s (hold.py)


class SilentRelay:
    """A TCP relay to `port` that can fall silent (its connections stay open and pass nothing) or
    reset every connection at once (a host whose processes died while its kernel still answers)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.silent = False
        self.closed = False
        self.resetting = False
        self.relaying = 0  # connections being relayed
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()[1]
        self.kill_read, self.kill_write = socket.socketpair()  # wakes every relay at once for a reset
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return
            if self.resetting:  # the dead host's kernel refuses what its processes no longer serve
                rst_close(client)
                continue
            upstream = socket.create_connection(("127.0.0.1", self.port))
            with self.lock:
                self.relaying += 1
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        try:
            while not self.closed:
                if self.resetting:
                    rst_close(client)
                    return
                if self.silent:
                    time.sleep(0.05)
                    continue
                readable, _writable, _broken = select.select([*peers, self.kill_read], [], [], 0.05)
                for sock in set(readable) & set(peers):
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()
            with self.lock:
                self.relaying -= 1

    def reset(self, linger: float = 0.0) -> None:
        """RST every connection being relayed, as a dead process's kernel does; returns once done.
        For `linger` seconds more, new connections are reset as soon as accepted."""
        self.resetting = True
        self.kill_write.send(b"x")
        deadline = time.monotonic() + 5
        while self.relaying and time.monotonic() < deadline:
            time.sleep(0.001)
        assert not self.relaying, "the relay's connections were not reset within 5 s"
        self.kill_read.recv(16)
        if linger:
            threading.Timer(linger, self._reset_done).start()
        else:
            self._reset_done()

    def _reset_done(self) -> None:
        self.resetting = False

    def close(self) -> None:
        self.closed = True
        self.listener.close()


def rst_close(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
    sock.close()


def make_cluster(haproxy, start_pgbouncer, postgres, tmp_path, overrides: dict | None = None):
    """PgBouncer -> HAProxy -> node 1 (the leader, behind a relay that can fall silent) or node 2
    (PostgreSQL itself); the map fake, node 1 heard a moment ago; a sync with both holds."""
    if HAPROXY is None:
        pytest.skip("needs the haproxy binary")
    relay = SilentRelay(postgres.port)
    bouncer = start_pgbouncer(haproxy["rw"])
    nodes = [FakeNode("qluster-01"), FakeNode("qluster-02")]
    nodes[0].role = "primary"
    agent = FakeAgent()
    agent.leader, agent.node_timeout_s, agent.term = 1, NODE_TIMEOUT, 5
    agent.members = [dict(nodes[0].row(1, "leader"), db_port=relay.address, last_seen_s=0.05),
                     dict(nodes[1].row(2), db_port=postgres.port, last_seen_s=0.05)]
    lines: list[str] = []
    syncer = routed_syncer(haproxy, bouncer, agent, tmp_path, lines, {"interval": "200ms", **(overrides or {})})
    yield {"bouncer": bouncer, "nodes": nodes, "agent": agent, "syncer": syncer, "lines": lines, "relay": relay,
           "haproxy": haproxy, "tmp_path": tmp_path}
    relay.close()
    for node in nodes:
        node.close()
    agent.close()


@pytest.fixture
def cluster(haproxy, start_pgbouncer, postgres, tmp_path):
    yield from make_cluster(haproxy, start_pgbouncer, postgres, tmp_path)


@pytest.fixture
def logged_cluster(start_pgbouncer, postgres, tmp_path):
    """The same, with HAProxy's read-write frontend logging every session's end to the sync."""
    path = tmp_path / "sessions.sock"
    for haproxy in start_haproxy(tmp_path, f"  log {path} format raw local0 info\n  option tcplog"):
        yield from make_cluster(haproxy, start_pgbouncer, postgres, tmp_path, {"haproxy-session-log": str(path)})


def in_transactions(bouncer, count: int) -> list:
    """`count` clients, each in a transaction (each holds a server connection)."""
    conns = [bouncer.client() for _unused in range(count)]
    for conn in conns:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    return conns


def kill_the_leader(cluster) -> None:
    cluster["relay"].silent = True
    cluster["nodes"][0].role = "silent"
    cluster["agent"].members[0]["last_seen_s"] = 0.4  # past half a lease of 0.8 s


def elect(cluster, new_leader: int) -> None:
    agent, nodes = cluster["agent"], cluster["nodes"]
    agent.leader, agent.term = new_leader, agent.term + 1
    agent.members = [dict(m, role="leader" if m["id"] == new_leader else "follower",
                          last_seen_s=0.05 if m["id"] == new_leader else m["last_seen_s"]) for m in agent.members]
    nodes[new_leader - 1].role = "primary"


def test_a_killed_leader_fails_only_the_transaction_in_flight_later_ones_wait_for_the_new_leader(cluster):
    bouncer, syncer, lines = cluster["bouncer"], cluster["syncer"], cluster["lines"]
    pauses = run_rounds(syncer, 0.3)
    assert max(pauses) <= 0.125  # rounds every quarter lease at most, to notice a silence in time
    idle = bouncer.client()
    transaction(idle)  # a client between two transactions at the crash
    busy = bouncer.client()
    with busy.cursor() as cur:
        cur.execute("SELECT 1")  # a client in a transaction at the crash
    kill_the_leader(cluster)
    run_rounds(syncer, 1, until=lambda: syncer.holder.active)
    assert syncer.holder.state.kind is Kind.FAILOVER
    assert not (cluster["tmp_path"] / "hold.json").exists()  # nobody waits for a failover's hold
    next_one = Query(conn=idle)
    login = Query(bouncer)
    run_rounds(syncer, 0.4)
    assert next_one.finished is None and next_one.error is None and login.finished is None and login.error is None
    elected = time.monotonic()
    elect(cluster, 2)
    run_rounds(syncer, 3, until=lambda: not syncer.holder.active)
    next_one.join(5)
    login.join(5)
    assert next_one.error is None and next_one.finished >= elected
    assert login.error is None and login.finished >= elected
    with pytest.raises(psycopg2.Error):
        busy.commit()  # in flight at the crash: its server connection was closed with the old leader's sessions
    assert not paused(bouncer)
    state = servers(cluster["haproxy"], "pg_rw")
    assert (state["qluster-02"].op_state, state["qluster-01"].op_state) == (2, 0)
    transaction(idle)  # and on it goes
    assert any("failover hold: the leader, node 1, has gone silent" in line for line in lines), lines
    assert any("failover hold: node 2 leads and takes writes through HAProxy: resuming after" in line for line in lines)


def test_a_false_alarm_costs_a_stall_and_no_error_and_keeps_the_server_connections(cluster):
    bouncer, syncer, agent, lines = cluster["bouncer"], cluster["syncer"], cluster["agent"], cluster["lines"]
    client = bouncer.client()
    transaction(client)
    reconnects = bouncer.log().count("RECONNECT")  # the sync's start resumes (and reconnects) everything
    agent.members[0]["last_seen_s"] = 0.4  # a late beat: the leader is alive and its database answers
    run_rounds(syncer, 1, until=lambda: syncer.holder.active)
    waiting = Query(conn=client)
    agent.members[0]["last_seen_s"] = 0.05
    run_rounds(syncer, 2, until=lambda: not syncer.holder.active)
    waiting.join(5)
    assert waiting.error is None and waiting.finished is not None
    assert not paused(bouncer)
    assert any("node 1 is heard again and still leads (term 5): resuming after" in line for line in lines), lines
    assert bouncer.log().count("RECONNECT") == reconnects  # the same leader in the same term: its connections are good
    # Heard again after a new election it won itself: its database may have fenced meanwhile.
    agent.members[0]["last_seen_s"] = 0.4
    run_rounds(syncer, 1, until=lambda: syncer.holder.active)
    agent.members[0]["last_seen_s"], agent.term = 0.05, 6
    run_rounds(syncer, 2, until=lambda: not syncer.holder.active)
    assert bouncer.log().count("RECONNECT") == reconnects + 1 and not paused(bouncer)


def test_a_leader_that_never_comes_back_is_not_waited_for_past_the_bound(cluster):
    bouncer, syncer, lines = cluster["bouncer"], cluster["syncer"], cluster["lines"]
    kill_the_leader(cluster)
    run_rounds(syncer, 1, until=lambda: syncer.holder.active)
    held = time.monotonic()
    run_rounds(syncer, 4, until=lambda: not syncer.holder.active)
    assert 2 * NODE_TIMEOUT <= time.monotonic() - held < 2 * NODE_TIMEOUT + 0.5
    assert not paused(bouncer)
    assert any("no leader takes writes within 1.6 s" in line for line in lines), lines
    run_rounds(syncer, 0.5)
    assert syncer.holder.state.stage is Stage.FREE and not paused(bouncer)  # not held again while still silent
    cluster["agent"].members[0]["last_seen_s"] = 0.05  # heard again: the hold is armed again
    run_rounds(syncer, 0.3)
    assert not syncer.holder.state.silence_spent


def test_a_leader_whose_sessions_reset_at_once_is_held_for_before_it_falls_silent(cluster):
    """A host whose processes died resets its connections at once; clients reconnect at once, and
    a server login cut then would make PgBouncer refuse the next logins fast. HAProxy counts the
    sessions the server side aborted: the sync pauses on that, before the observer misses a beat."""
    bouncer, syncer, lines, relay = cluster["bouncer"], cluster["syncer"], cluster["lines"], cluster["relay"]
    client = bouncer.client()
    transaction(client)
    busy = in_transactions(bouncer, 3)  # three server connections in use
    run_rounds(syncer, 0.3)
    relay.silent = True  # the dead host answers nothing more ...
    relay.reset()  # ... after resetting every connection it had
    cluster["agent"].members[0]["last_seen_s"] = 0.2  # heard a moment ago: not silent yet
    cluster["nodes"][0].role = "silent"
    run_rounds(syncer, 1, until=lambda: syncer.holder.active)
    assert syncer.holder.state.kind is Kind.FAILOVER and not syncer.leader_silent  # before any silence
    assert any("node 1, reset its sessions at once" in line for line in lines), lines
    for conn in busy:
        with pytest.raises(psycopg2.Error):
            conn.commit()  # in flight at the reset
    cluster["agent"].members[0]["last_seen_s"] = 0.4  # and then silent: not heard since the pause
    login = Query(bouncer)
    run_rounds(syncer, 0.4)
    assert login.finished is None and login.error is None and syncer.holder.active
    elected = time.monotonic()
    elect(cluster, 2)
    run_rounds(syncer, 3, until=lambda: not syncer.holder.active)
    login.join(5)
    assert login.error is None and login.finished >= elected
    transaction(client)


def test_sessions_reset_on_a_leader_still_heard_cost_a_round_of_stall(cluster):
    bouncer, syncer, lines, relay = cluster["bouncer"], cluster["syncer"], cluster["lines"], cluster["relay"]
    busy = in_transactions(bouncer, 3)
    run_rounds(syncer, 0.3)
    relay.reset()  # e.g. its database restarted in place; its agent is heard all along
    run_rounds(syncer, 1, until=lambda: syncer.holder.active)
    run_rounds(syncer, 1, until=lambda: not syncer.holder.active)
    assert not paused(bouncer)
    assert any("node 1 is heard again and still leads (term 5)" in line for line in lines), lines
    for conn in busy:
        with pytest.raises(psycopg2.Error):
            conn.commit()  # in flight at the reset
    transaction(bouncer.client())  # a new client goes on at once


class Writer(threading.Thread):
    """A client of qhb_tx that runs one transaction after another and, after an error, logs in
    again at once (as the lab's writers and many applications do); each error with when its
    transaction (or login) began and when it failed."""

    def __init__(self, bouncer, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.bouncer, self.stop = bouncer, stop
        self.errors: list[tuple[float, float, str]] = []
        self.committed = 0
        self.start()

    def run(self) -> None:
        conn = None
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                conn = conn or self.bouncer.client()
                transaction(conn)
                self.committed += 1
            except psycopg2.Error as exc:
                self.errors.append((began, time.monotonic(), str(exc).strip().splitlines()[0]))
                conn = None
        if conn is not None:
            conn.close()


def test_clients_that_log_in_again_at_once_after_the_leader_reset_its_sessions_wait_for_the_new_one(logged_cluster):
    """A host whose processes died resets its connections at once and, for a moment, every new
    one; clients whose transactions failed log in again at once. The server login PgBouncer
    opens for them then fails, and PgBouncer 1.18 refuses every login and transaction of the
    database while it has no server ("server login has been failing") - unless it is paused
    first. HAProxy's session log brings the sync the reset within milliseconds: only the
    transactions in flight at the reset fail."""
    cluster = logged_cluster
    bouncer, syncer, lines, relay = cluster["bouncer"], cluster["syncer"], cluster["lines"], cluster["relay"]
    assert syncer.session_log is not None
    stop_sync, stop_writers = threading.Event(), threading.Event()
    sync = threading.Thread(target=syncer.run_forever, kwargs={"stop": stop_sync.is_set, "sleep": stop_sync.wait})
    sync.start()
    # The sync's start reconnects every database (and ignores the leader's sessions ending for a while).
    wait_for(lambda: syncer.holder.reconnected_at is not None
             and time.monotonic() - syncer.holder.reconnected_at > RECONNECT_QUIET, what="the sync's start over")
    writers = [Writer(bouncer, stop_writers) for _count in range(3)]
    try:
        wait_for(lambda: all(w.committed > 5 for w in writers), what="the writers at work")
        cluster["nodes"][0].role = "silent"
        killed = time.monotonic()
        relay.reset(linger=0.5)
        reset_done = time.monotonic()
        wait_for(lambda: syncer.holder.active, timeout=2, what="the failover hold")
        assert syncer.holder.state.kind is Kind.FAILOVER
        cluster["agent"].members[0]["last_seen_s"] = 0.4  # then silent
        wait_for(lambda: time.monotonic() - reset_done > 0.6, what="the relay's linger")
        elect(cluster, 2)
        wait_for(lambda: not syncer.holder.active, timeout=5, what="the end of the hold")
        resumed = [w.committed for w in writers]
        wait_for(lambda: all(w.committed > c for w, c in zip(writers, resumed)), what="writes on the new leader")
    finally:
        stop_writers.set()
        stop_sync.set()
        sync.join(10)
        for writer in writers:
            writer.join(10)
    # Each error: when its transaction began and when it failed, in seconds after the reset began.
    errors = [[(round(began - killed, 3), round(failed - killed, 3), error) for began, failed, error in w.errors]
              for w in writers]
    assert all(failed >= 0 for each in errors for _began, failed, _error in each), errors  # none before the reset
    late = [error for each in errors for error in each if error[0] > reset_done - killed]
    assert late == [], late  # none that began after it
    assert all(len(each) <= 1 for each in errors), errors  # its transaction in flight
    assert any("node 1, reset its sessions at once" in line for line in lines), lines
    assert not paused(bouncer)
