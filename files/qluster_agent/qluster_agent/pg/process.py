"""Running the database programs as the database OS user, with timeouts and cancellation."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .cancel import CancelToken, Cancelled

# How often a running command checks its cancel token.
_POLL_S = 0.1


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe_failure(self) -> str:
        """One line for a log: the program, its exit code and the last line it printed."""
        tail = (self.stderr.strip() or self.stdout.strip()).splitlines()
        last = tail[-1] if tail else "no output"
        return f"{os.path.basename(self.argv[0])} exited with {self.returncode}: {last}"


@dataclass(frozen=True)
class OsUser:
    name: str
    uid: int
    gid: int
    home: str

    @classmethod
    def lookup(cls, name: str) -> "OsUser":
        entry = pwd.getpwnam(name)
        return cls(name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


class CommandRunner:
    """Runs argv lists; as `run_as` when given and we are root (PostgreSQL refuses root).

    In production the agent already runs as the database user (qhb under systemd) and run_as
    stays None. Commands run in their own session so a cancel can stop the whole process
    group (pg_basebackup forks a WAL streamer).
    """

    def __init__(self, run_as: str | None = None) -> None:
        self._run_as = run_as

    @property
    def run_as(self) -> str | None:
        return self._run_as

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float | None = None,
        cancel: CancelToken | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        kwargs = self._identity()
        full_env = dict(os.environ)
        if "env" in kwargs:
            full_env.update(kwargs.pop("env"))
        full_env.update(env or {})
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
            cwd="/",
            start_new_session=True,
            **kwargs,
        )
        waited = 0.0
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=_POLL_S)
                break
            except subprocess.TimeoutExpired:
                waited += _POLL_S
                if cancel is not None and cancel.cancelled:
                    self._kill(proc)
                    raise Cancelled() from None
                if timeout_s is not None and waited >= timeout_s:
                    self._kill(proc)
                    stdout, stderr = proc.communicate()
                    return CommandResult(tuple(argv), -1, stdout, stderr + f"\ntimed out after {timeout_s:.0f} s")
        return CommandResult(tuple(argv), proc.returncode, stdout, stderr)

    def _identity(self) -> dict:
        if self._run_as is None or os.geteuid() != 0:
            return {}
        user = OsUser.lookup(self._run_as)
        if user.uid == 0:
            return {}
        return {
            "user": user.uid,
            "group": user.gid,
            "extra_groups": [],
            "env": {"HOME": user.home, "USER": user.name, "LOGNAME": user.name},
        }

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
