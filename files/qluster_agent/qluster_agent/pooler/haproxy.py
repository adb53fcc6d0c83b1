"""HAProxy's runtime API (the admin `stats socket`): one command per connection."""

from __future__ import annotations

import socket

# What a command answers when it worked; anything else is HAProxy's error message.
_SUCCESS = {"add server": "New server registered.", "del server": "Server deleted."}


class HaproxyError(Exception):
    """The socket could not be used, or HAProxy refused a command (the message says which)."""


def expected_answer(command: str) -> str:
    for prefix, answer in _SUCCESS.items():
        if command.startswith(prefix + " "):
            return answer
    return ""


class RuntimeApi:
    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout

    def ask(self, command: str) -> str:
        """Send one command, return HAProxy's whole answer."""
        if "\n" in command or ";" in command:
            raise ValueError(f"one command at a time: {command!r}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.path)
                sock.sendall(command.encode() + b"\n")
                chunks = []
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except OSError as exc:
            raise HaproxyError(f"HAProxy's runtime API at {self.path}: {exc.strerror or exc}") from None
        return b"".join(chunks).decode(errors="replace")

    def run(self, command: str) -> None:
        """Send a changing command; raise HaproxyError unless HAProxy answers as on success."""
        answer = self.ask(command).strip()
        if answer != expected_answer(command):
            raise HaproxyError(f"HAProxy refused `{command}`: {' '.join(answer.split()) or 'no answer'}")

    def server_aborts(self, backend: str) -> dict[str, int]:
        """Each server's count of sessions the server side aborted (`show stat`'s srv_abrt)."""
        lines = self.ask("show stat -1 4 -1").splitlines()
        if not lines or not lines[0].startswith("# "):
            raise HaproxyError(f"HAProxy's `show stat` answered: {' '.join(lines[:1]) or 'nothing'}")
        head = lines[0][2:].split(",")
        found = {}
        for line in lines[1:]:
            row = dict(zip(head, line.split(",")))
            if row.get("pxname") == backend and row.get("srv_abrt", "").isdigit():
                found[row["svname"]] = int(row["srv_abrt"])
        return found

    def servers_state(self, backend: str) -> str:
        answer = self.ask(f"show servers state {backend}")
        if not answer.lstrip().startswith("1"):
            raise HaproxyError(f"HAProxy has no backend {backend}: {' '.join(answer.split())}")
        return answer
