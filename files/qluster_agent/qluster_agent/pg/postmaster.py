"""Knowing whether our postmaster runs, even after its data directory vanished.

pg_ctl and postmaster.pid are the normal way. But when PGDATA is deleted under a running server
(seed 003's drill, a failed disk), postmaster.pid goes with it while the server keeps
accepting writes until its next lock-file check, up to a minute later. So the tracker
remembers the postmaster it last saw (pid plus kernel start time, so a recycled pid is not
mistaken for it) and can still report it and stop it.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from .datadir import postmaster_pid


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    start_ticks: int  # /proc/<pid>/stat field 22: distinguishes a recycled pid

    @classmethod
    def of(cls, pid: int) -> "ProcessIdentity | None":
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        # The command name (field 2) is in parentheses and may contain spaces.
        fields = stat[stat.rfind(")") + 2 :].split()
        if not fields or fields[0] in ("Z", "X"):
            # A zombie has exited; it lingers when nobody reaps it (an init that does not
            # reap orphans, as in some containers and micro-VMs).
            return None
        try:
            return cls(pid, int(fields[19]))
        except (IndexError, ValueError):
            return None

    def alive(self) -> bool:
        return ProcessIdentity.of(self.pid) == self


class PostmasterTracker:
    def __init__(self, datadir: Path) -> None:
        self._datadir = datadir
        self._last: ProcessIdentity | None = None

    def current_pid(self) -> int | None:
        pid = postmaster_pid(self._datadir)
        if pid is not None:
            self._last = ProcessIdentity.of(pid)
            return pid
        if self._last is not None and self._last.alive():
            return self._last.pid
        self._last = None
        return None

    def wait_gone(self, timeout_s: float = 5.0) -> bool:
        """Wait until the remembered postmaster has exited; True once it has.

        pg_ctl stop returns as soon as postmaster.pid is unlinked, which the postmaster does
        while it is still exiting; a status read in that window would see a live process
        without a pid file or socket.
        """
        last = self._last
        deadline = time.monotonic() + timeout_s
        while last is not None and last.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        if postmaster_pid(self._datadir) is None:
            self._last = None
        return True

    def quit_orphan(self, timeout_s: float = 10.0) -> bool:
        """SIGQUIT (immediate shutdown) the remembered postmaster; True once it is gone."""
        last = self._last
        if last is None or not last.alive():
            return True
        try:
            os.kill(last.pid, signal.SIGQUIT)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout_s
        while last.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        self._last = None
        return True


def child_titles(parent: int) -> list[str]:
    """The command lines of `parent`'s children: a server process's ps title, such as
    'postgres: walreceiver streaming 0/3000000' (the server writes it over its argv)."""
    titles = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            if int(stat[stat.rfind(")") + 2 :].split()[1]) != parent:
                continue
            raw = Path(f"/proc/{entry.name}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile, or not ours to read
        titles.append(raw.replace(b"\0", b" ").decode(errors="replace").strip())
    return titles
