"""PgBouncer's admin console (the `pgbouncer` database) over its unix socket, never blocking long.

Every command runs on its own connection in psycopg2's asynchronous mode: `start()` sends it and
returns at once, `Pending.poll()` says whether PgBouncer has answered. `PAUSE <db>` answers only
once that database's transactions in flight have ended, so the sync polls it between rounds
instead of waiting; `run()` waits for a short command (`RESUME`, `RECONNECT`) at most
`timeout` seconds. PgBouncer does not take TLS on its unix socket, whatever client_tls_sslmode.
"""

from __future__ import annotations

import re
import select
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import psycopg2
import psycopg2.extensions

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


class Pending:
    """One admin command on its own connection: connecting, then sent, then answered."""

    def __init__(self, access: AdminAccess, command: str) -> None:
        if not _COMMAND.match(command):
            raise ValueError(f"not an admin command this program sends: {command!r}")
        self.command = command
        self.where = f"PgBouncer's admin console at {access.socket_dir} port {access.port}"
        self.cursor: Any = None
        self.rows: list[tuple] = []
        self.done = False
        self.wants_write = False  # what the last poll waits for: the socket writable, else readable
        try:
            self.conn = access.connect()
        except psycopg2.Error as exc:
            raise AdminError(f"{self.where}: {_message(exc)}") from None

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

    def wait(self, deadline: float, clock: Callable[[], float], until_sent: bool = False) -> None:
        """Poll until answered (or only sent), waiting on the socket; AdminError past `deadline`."""
        while not self.poll() and not (until_sent and self.sent):
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

    def start(self, command: str) -> Pending:
        """Connect (a few milliseconds on the unix socket, at most the timeout) and send `command`;
        poll the answer."""
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
