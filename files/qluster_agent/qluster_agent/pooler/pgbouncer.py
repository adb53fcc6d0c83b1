"""PgBouncer's admin console (the `pgbouncer` database) over its unix socket, never blocking long.

Every command runs on its own connection in psycopg2's asynchronous mode: `start()` sends it and
returns at once, `Pending.poll()` says whether PgBouncer has answered. `PAUSE <db>` answers only
once that database's transactions in flight have ended, so the sync polls it between rounds
instead of waiting; `run()` waits for a short command (`RESUME`, `RECONNECT`) at most
`timeout` seconds. PgBouncer does not take TLS on its unix socket, whatever client_tls_sslmode.

A login to the console takes milliseconds (scram-sha-256), and a PAUSE that must beat clients
reconnecting after a crash cannot wait for it: `keep_ready(n)` keeps n connections logged in
and idle, and `start()` sends its command on one of them when it can.
"""

from __future__ import annotations

import re
import select
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import psycopg2
import psycopg2.extensions

# After a connection kept ready failed (PgBouncer away, the password refused), the next is made
# only this much later: PgBouncer logs every failed login.
READY_RETRY = 5.0
_COMMAND = re.compile(r"^(PAUSE|RESUME|RECONNECT|SHOW) [A-Za-z0-9_.-]+$")


class AdminError(Exception):
    """PgBouncer could not be reached or refused the command (the message says which)."""


@dataclass(frozen=True)
class AdminAccess:
    socket_dir: str
    port: int
    user: str
    password: str = field(repr=False)
    timeout: float = 2.0

    def connect(self) -> Any:
        """A new asynchronous connection to the admin console (still connecting)."""
        return psycopg2.connect(host=self.socket_dir, port=self.port, user=self.user, password=self.password,
                                dbname="pgbouncer", connect_timeout=max(1, round(self.timeout)),
                                application_name="qluster-haproxy-sync", async_=1)


def _checked(command: str) -> str:
    if not _COMMAND.match(command):
        raise ValueError(f"not an admin command this program sends: {command!r}")
    return command


class Pending:
    """One admin command on its own connection: connecting, then sent, then answered. Made
    without a command, it stays logged in and idle until `send()` gives it one."""

    def __init__(self, access: AdminAccess, command: str | None) -> None:
        self.command = _checked(command) if command is not None else None
        self.where = f"PgBouncer's admin console at {access.socket_dir} port {access.port}"
        self.cursor: Any = None
        self.rows: list[tuple] = []
        self.done = False
        self.connected = False
        self.wants_write = False  # what the last poll waits for: the socket writable, else readable
        try:
            self.conn = access.connect()
        except psycopg2.Error as exc:
            raise AdminError(f"{self.where}: {_message(exc)}") from None

    def send(self, command: str) -> bool:
        """Send `command` on this idle, logged-in connection; False (nothing sent) when it is not
        logged in yet or PgBouncer has closed it (it says nothing to an idle admin client but that)."""
        _checked(command)
        if not self.connected or self.command is not None or self.closed_by_pgbouncer():
            return False
        try:
            self.command = command
            self.cursor = self.conn.cursor()
            self.cursor.execute(command)
        except (psycopg2.Error, OSError, ValueError):
            return False
        return True

    def closed_by_pgbouncer(self) -> bool:
        """Whether this idle connection is gone: closed, or with something to read (PgBouncer says
        nothing to an idle admin client but that it closes it)."""
        try:
            return bool(self.conn.closed or (self.connected and select.select([self], [], [], 0)[0]))
        except (OSError, ValueError):
            return True

    def poll(self) -> bool:
        """Advance without waiting; True once answered. AdminError when refused or cut."""
        if self.done:
            return True
        try:
            while True:
                state = self.conn.poll()
                if state != psycopg2.extensions.POLL_OK:
                    self.wants_write = state == psycopg2.extensions.POLL_WRITE
                    return False
                self.connected = True
                if self.command is None:  # logged in: kept for a command to come
                    return False
                if self.cursor is None:  # connected: send the command
                    self.cursor = self.conn.cursor()
                    self.cursor.execute(self.command)
                    continue
                if self.cursor.description:
                    self.rows = self.cursor.fetchall()
                self.done = True
                self.close()
                return True
        except psycopg2.Error as exc:
            self.close()
            raise AdminError(f"`{self.command}` on {self.where}: {_message(exc)}") from None

    @property
    def sent(self) -> bool:
        return self.cursor is not None

    def wait(self, deadline: float, clock: Callable[[], float], until_sent: bool = False,
             until_connected: bool = False) -> None:
        """Poll until answered (or only sent, or only logged in), waiting on the socket; AdminError
        past `deadline`."""
        while not self.poll() and not (until_sent and self.sent) and not (until_connected and self.connected):
            remaining = deadline - clock()
            if remaining <= 0:
                self.close()
                raise AdminError(f"`{self.command}` on {self.where}: no answer within the timeout")
            try:
                if self.wants_write:
                    select.select([], [self], [], remaining)
                else:
                    select.select([self], [], [], remaining)
            except (OSError, ValueError):  # closed under us: poll() says why
                pass

    def fileno(self) -> int:
        return self.conn.fileno()

    def close(self) -> None:
        try:
            self.conn.close()
        except psycopg2.Error:
            pass


class AdminConsole:
    def __init__(self, access: AdminAccess, clock: Callable[[], float] = time.monotonic) -> None:
        self.access = access
        self.clock = clock
        self.ready: list[Pending] = []  # logged in (or logging in) and idle, for start()
        self.ready_retry_at = 0.0

    def keep_ready(self, count: int) -> None:
        """Keep `count` connections logged in and idle (advanced without waiting, each call); one
        PgBouncer has closed is replaced, after READY_RETRY if one failed to log in (meanwhile
        start() connects as it can)."""
        for pending in list(self.ready):
            try:
                pending.poll()
                alive = not pending.closed_by_pgbouncer()
            except AdminError:
                alive = False
                self.ready_retry_at = self.clock() + READY_RETRY  # refused, or cut while logging in
            if not alive:
                pending.close()
                self.ready.remove(pending)
        while len(self.ready) < count and self.clock() >= self.ready_retry_at:
            try:
                self.ready.append(Pending(self.access, None))
            except AdminError:
                self.ready_retry_at = self.clock() + READY_RETRY
                return

    def close(self) -> None:
        """Close the connections kept ready."""
        for pending in self.ready:
            pending.close()
        self.ready.clear()

    def start(self, command: str) -> Pending:
        """Send `command` on a connection kept ready, else connect (a few milliseconds on the unix
        socket, at most the timeout) and send it; poll the answer."""
        deadline = self.clock() + self.access.timeout
        while self.ready:
            pending = self.ready.pop(0)
            try:
                # Logging in is advanced once a round: one under way is finished, not thrown away.
                pending.wait(deadline, self.clock, until_connected=True)
            except AdminError:
                pending.close()
                continue
            if pending.send(command):
                return pending
            pending.close()
        pending = Pending(self.access, command)
        pending.wait(self.clock() + self.access.timeout, self.clock, until_sent=True)
        return pending

    def run(self, command: str) -> list[tuple]:
        """Send `command` and wait for the answer, at most the access's timeout."""
        pending = Pending(self.access, command)
        pending.wait(self.clock() + self.access.timeout, self.clock)
        return pending.rows


def _message(exc: psycopg2.Error) -> str:
    return " ".join(str(getattr(exc, "pgerror", None) or exc).split()) or type(exc).__name__
