"""Running the programs of inhost.py inside lab hosts and collecting their JSON lines."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

from ..faults import Host
from ..podman import LabError, podman, podman_env

SOURCE = (Path(__file__).with_name("inhost.py")).read_text()
PYTHON = "/usr/bin/python3"


def argv(host: Host, args: list[str], user: str | None = None, env: dict[str, str] | None = None,
         stdin: bool = True) -> list[str]:
    cmd = ["podman", "exec"] + (["-i"] if stdin else [])
    if user:
        cmd += ["--user", user]
    for key, value in (env or {}).items():
        cmd += ["-e", f"{key}={value}"]
    return cmd + [host.container, PYTHON, "-u", "-c", SOURCE, *args]


def once(host: Host, args: list[str], user: str | None = None, env: dict[str, str] | None = None,
         timeout: float = 120) -> list[dict]:
    """Run a program to its end; its records. A failure raises naming the host and the program."""
    head = ["exec"] + (["--user", user] if user else [])
    for key, value in (env or {}).items():
        head += ["-e", f"{key}={value}"]
    proc = podman(*head, host.container, PYTHON, "-u", "-c", SOURCE, *args, check=False, timeout=timeout, input="")
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()
        raise LabError(f"`{args[0]}` in {host.hostname} failed: {tail[-1] if tail else 'exit ' + str(proc.returncode)}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


class Remote:
    """A long-running program in a host, started again whenever the host is back (killed, restarted).

    Every record goes to `sink`; the program's stderr goes to `log_path`. A paused host simply
    delivers nothing until it is resumed.
    """

    def __init__(self, host: Host, args: list[str], sink: Callable[[dict], None], log_path: Path,
                 user: str | None = None, env: dict[str, str] | None = None) -> None:
        self.host, self.args, self.sink, self.log_path = host, args, sink, log_path
        self.user, self.env = user, env
        self.starts = 0
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._loop, name=f"remote-{host.hostname}-{args[0]}", daemon=True)

    def start(self) -> "Remote":
        self._thread.start()
        return self

    def stop(self, timeout: float = 20) -> None:
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.stdin:
            try:
                proc.stdin.close()
            except OSError:
                pass
        self._thread.join(timeout)
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            self._thread.join(5)

    def _loop(self) -> None:
        with open(self.log_path, "a") as log:
            while not self._stop.is_set():
                if not self.host.is_running() or self.host.is_paused():
                    self._stop.wait(1.0)
                    continue
                self.starts += 1
                log.write(f"--- start {self.starts} at {time.time():.3f}\n")
                log.flush()
                self._proc = subprocess.Popen(argv(self.host, self.args, self.user, self.env), env=podman_env(),
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
                for line in self._proc.stdout:
                    try:
                        record = json.loads(line) if line.startswith("{") else None
                    except ValueError:  # the host died in the middle of a line
                        record = None
                    if record is not None:
                        self.sink(record)
                self._proc.wait()
                self._stop.wait(1.0)
