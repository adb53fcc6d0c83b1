"""HAProxy's session log of the read-write route, received on a unix datagram socket.

When the leader's host dies with its processes (killed, OOM, a container stopped hard), its
kernel closes or resets every connection they had within a few milliseconds. HAProxy logs each
session of the leader's server as it ends: several ending together say the leader is gone
(`LeaderEnds`), sooner than anything else can - the observer misses the leader only half a
lease later, and HAProxy's counters are read once a round. The failover hold (hold.py) pauses
PgBouncer's transaction-pooled databases on it, before clients that reconnect at once log in
through a server connection to the dead leader and fail.

HAProxy's frontend sends every session's end here (`log <path> format raw`, tcplog lines):

    127.0.0.1:46674 [07/Dec/2026:07:55:19.781] fe_pg_rw pg_rw/qluster-01 1/0/212 2225 SD 3/3/2/2/0 0/0

Only HAProxy's user can write to the socket (its directory is that user's, 0750); what arrives
is bounded all the same: a datagram is read up to DATAGRAM_BYTES, a drain reads at most
DRAIN_LIMIT of them, and a line that is not a session's end of `backend` is skipped.
"""

from __future__ import annotations

import os
import select
import socket
import stat
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable

DATAGRAM_BYTES = 4096  # HAProxy's default log line length is 1024
DRAIN_LIMIT = 1000
# The sessions of the leader's server that must end within WINDOW to say it died. One alone
# happens (PostgreSQL ends a backend, PgBouncer closes an idle server connection); a dead host's
# end within a few milliseconds of each other (measured in the lab: 6 to 12 within 30 ms).
BURST = 2
WINDOW = 0.05


class SessionLogError(Exception):
    """The socket could not be made (the message names the path)."""


@dataclass(frozen=True)
class SessionEnd:
    backend: str
    server: str
    termination: str  # HAProxy's two-letter termination state ("--" normal, "SD" reset by the server...)


def parse_session_end(line: str) -> SessionEnd | None:
    """A tcplog line's backend, server and termination state; None for any other line (a
    server's state change, HAProxy's own messages)."""
    tokens = line.split()
    for index, token in enumerate(tokens[:8]):
        if "/" in token and token.count("/") == 1 and index + 3 < len(tokens) and index >= 2:
            backend, server = token.split("/")
            termination = tokens[index + 3]
            if backend and server and len(termination) == 2 and tokens[index - 2].startswith("["):
                return SessionEnd(backend, server, termination)
    return None


@dataclass
class LeaderEnds:
    """The recent ends of the leader's sessions: a burst of BURST within WINDOW says it died.

    Sessions HAProxy itself ended are no news of the leader: shut down from the runtime API
    (termination state K.: the sync's demotion of a former leader, an operator's `shutdown
    sessions`), or because a server went down (D.: also connections that were being retried on
    the former leader and were redispatched to the new one, which are logged under its name)."""

    backend: str
    server: str | None = None
    times: deque = field(default_factory=deque)

    def note(self, ends: Iterable[SessionEnd], leader: str | None, now: float) -> None:
        if leader != self.server:
            self.server = leader
            self.times.clear()
        for end in ends:
            if end.backend == self.backend and end.server == leader and end.termination[0] not in "KD":
                self.times.append(now)
        while self.times and now - self.times[0] > WINDOW:
            self.times.popleft()

    def burst(self) -> bool:
        return len(self.times) >= BURST

    def forget(self) -> None:
        """Ends seen so far are no news (a hold just began or ended: PgBouncer closed its own)."""
        self.times.clear()


class SessionLog:
    """The socket HAProxy logs to, bound by this process (an old socket file at the path is replaced)."""

    def __init__(self, path: str, mode: int = 0o660) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            if os.path.lexists(path) and stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)  # left by an earlier run; anything else at the path is an error below
            self.sock.bind(path)
            os.chmod(path, mode)
        except OSError as exc:
            self.sock.close()
            raise SessionLogError(f"cannot listen for HAProxy's session log at {path}: {exc.strerror or exc}") from None
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def drain(self) -> list[SessionEnd]:
        """The session ends received since the last drain (at most DRAIN_LIMIT datagrams)."""
        ends = []
        for _count in range(DRAIN_LIMIT):
            try:
                datagram = self.sock.recv(DATAGRAM_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            end = parse_session_end(datagram.decode("utf-8", errors="replace"))
            if end is not None:
                ends.append(end)
        return ends

    def wait(self, timeout: float, also: tuple = ()) -> bool:
        """Wait until a datagram arrives (True) or `timeout` passes or one of the sockets `also`
        has something to read (False; what it had is read)."""
        try:
            readable, _writable, _broken = select.select([self.sock, *also], [], [], max(0.0, timeout))
            for other in set(readable) - {self.sock}:
                other.recv(4096)
        except (OSError, ValueError):
            return False
        return self.sock in readable

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
