"""HAProxy's session log as the sync reads it: lines HAProxy 2.6 wrote in the lab, a real socket."""

from __future__ import annotations

import os
import socket

import pytest

from qluster_agent.pooler.session_log import (WINDOW, LeaderEnds, SessionEnd, SessionLog,
                                              SessionLogError, parse_session_end)

# Written by the lab's HAProxy (format raw, option tcplog) when the leader's host was killed,
# a custom log-format with uploaded bytes, and the server-state messages that share the log.
RESET = "127.0.0.1:46674 [07/Dec/2026:07:55:19.781] fe_pg_rw pg_rw/qluster-01 1/0/212 2225 SD 3/3/2/2/0 0/0"
NORMAL = "127.0.0.1:46684 [07/Dec/2026:07:55:19.795] fe_pg_rw pg_rw/qluster-01 1/0/212 12464 -- 2/2/1/1/0 0/0"
REDISPATCHED = "127.0.0.1:46698 [07/Dec/2026:07:55:20.013] fe_pg_rw pg_rw/qluster-03 1004/0/1003 0 D- 8/8/7/6/+4 0/0"
STATE = "Server pg_rw/qluster-01 is DOWN, changed from CLI. 1 active and 0 backup servers left. 4 sessions active"


def test_a_session_end_gives_its_backend_server_and_termination_state():
    assert parse_session_end(RESET) == SessionEnd("pg_rw", "qluster-01", "SD")
    assert parse_session_end(NORMAL) == SessionEnd("pg_rw", "qluster-01", "--")
    assert parse_session_end(REDISPATCHED) == SessionEnd("pg_rw", "qluster-03", "D-")


@pytest.mark.parametrize("line", [STATE, "", "Proxy fe_pg_rw started.", "garbage / with / slashes x y z",
                                  "\x00\xff" * 40, "127.0.0.1:1 [x] fe pg_rw/qluster-01"])
def test_anything_else_is_not_a_session_end(line):
    assert parse_session_end(line) is None


def ends(server: str, count: int, termination: str = "--", backend: str = "pg_rw") -> list[SessionEnd]:
    return [SessionEnd(backend, server, termination)] * count


def test_two_of_the_leaders_sessions_ending_together_are_a_burst():
    recent = LeaderEnds("pg_rw")
    recent.note(ends("qluster-01", 1), "qluster-01", 10.0)
    assert not recent.burst()  # one alone: a backend PostgreSQL ended, an idle connection closed
    recent.note(ends("qluster-01", 1, "SD"), "qluster-01", 10.0 + WINDOW / 2)
    assert recent.burst()


def test_ends_apart_other_servers_and_shutdowns_of_the_runtime_api_are_no_burst():
    recent = LeaderEnds("pg_rw")
    recent.note(ends("qluster-01", 1), "qluster-01", 10.0)
    recent.note(ends("qluster-01", 1), "qluster-01", 10.0 + WINDOW * 1.5)
    assert not recent.burst()  # apart
    recent.note(ends("qluster-02", 5) + ends("qluster-01", 5, backend="pg_ro"), "qluster-01", 10.0 + WINDOW * 1.6)
    assert not recent.burst()  # a former leader's, or the read-only route's
    recent.note(ends("qluster-01", 3, "KD"), "qluster-01", 10.0 + WINDOW * 1.7)
    assert not recent.burst()  # the sync's demotion, an operator's `shutdown sessions`
    recent.note(ends("qluster-01", 3, "D-"), "qluster-01", 10.0 + WINDOW * 1.8)
    assert not recent.burst()  # a server marked down (connections redispatched from the former leader)


def test_a_new_leader_starts_afresh_and_forget_drops_what_was_seen():
    recent = LeaderEnds("pg_rw")
    recent.note(ends("qluster-01", 1), "qluster-01", 10.0)
    recent.note(ends("qluster-02", 1), "qluster-02", 10.01)
    assert not recent.burst()
    recent.note(ends("qluster-02", 3), "qluster-02", 10.02)
    assert recent.burst()
    recent.forget()
    assert not recent.burst()


@pytest.fixture
def log_socket(tmp_path):
    made = SessionLog(str(tmp_path / "sessions.sock"))
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    yield made, lambda text: sender.sendto(text.encode(), made.path)
    sender.close()
    made.close()


def test_the_socket_takes_datagrams_as_haproxy_sends_them(log_socket):
    session_log, send = log_socket
    assert oct(os.stat(session_log.path).st_mode & 0o777) == "0o660"
    assert not session_log.wait(0.01)  # nothing yet
    for line in (RESET, STATE, NORMAL):
        send(line)
    assert session_log.wait(1)
    assert session_log.drain() == [SessionEnd("pg_rw", "qluster-01", "SD"), SessionEnd("pg_rw", "qluster-01", "--")]
    assert session_log.drain() == []


def test_a_flood_is_read_in_bounded_drains_and_long_datagrams_cut(log_socket, monkeypatch):
    session_log, send = log_socket
    monkeypatch.setattr("qluster_agent.pooler.session_log.DRAIN_LIMIT", 3)  # the kernel queues 10 by default
    send(RESET + " x" * 10000)  # longer than any log line: read up to DATAGRAM_BYTES
    for _count in range(4):
        send(NORMAL)
    first = session_log.drain()
    assert len(first) == 3 and first[0].termination == "SD"
    assert len(session_log.drain()) == 2


def test_a_wake_socket_ends_the_wait_and_is_read(log_socket):
    session_log, _send = log_socket
    wake_read, wake_write = socket.socketpair()
    wake_write.send(b"\x0f")
    assert not session_log.wait(5, (wake_read,))
    wake_read.setblocking(False)
    with pytest.raises(BlockingIOError):
        wake_read.recv(1)  # what woke it was read
    wake_read.close()
    wake_write.close()


def test_a_socket_left_by_an_earlier_run_is_replaced_anything_else_is_an_error(tmp_path):
    path = tmp_path / "sessions.sock"
    SessionLog(str(path)).sock.close()  # a run that ended without removing it
    SessionLog(str(path)).close()
    path.write_text("not a socket")
    with pytest.raises(SessionLogError, match=f"cannot listen for HAProxy's session log at {path}: "):
        SessionLog(str(path))
    with pytest.raises(SessionLogError, match="No such file or directory"):
        SessionLog(str(tmp_path / "missing" / "sessions.sock"))
