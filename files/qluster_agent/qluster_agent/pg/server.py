"""Starting, stopping, promoting and reloading the server through pg_ctl."""

from __future__ import annotations

import logging
import os
import signal

from .cancel import CancelToken
from .commands import (
    StopMode,
    controldata_argv,
    pg_ctl_promote_argv,
    pg_ctl_reload_argv,
    pg_ctl_start_argv,
    pg_ctl_stop_argv,
)
from .control_file import read_control_file
from .controldata import ControlData, ControlDataError, parse_controldata
from .datadir import postmaster_pid, remove_stale_pid_file
from .options import PgOptions
from .postmaster import PostmasterTracker, child_titles
from .process import CommandResult, CommandRunner
from .wal_end import WalEnd, dump_start, list_segments, parse_dump_end, waldump_argv

# The size of a WAL segment unless the files in pg_wal say otherwise (initdb's default).
DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024
_STOP_SIGNALS = {StopMode.FAST: signal.SIGINT, StopMode.IMMEDIATE: signal.SIGQUIT}
# pg_controldata's labels are translated; our parser reads the English ones.
C_LOCALE = {"LANG": "C", "LC_ALL": "C"}
log = logging.getLogger(__name__)


class ServerControl:
    def __init__(self, options: PgOptions, runner: CommandRunner) -> None:
        self._o = options
        self._run = runner
        self._postmaster = PostmasterTracker(options.datadir)

    @property
    def running(self) -> bool:
        """A postmaster for our data directory is alive (reads /proc, starts nothing)."""
        return self._postmaster.current_pid() is not None

    def wal_receiver_running(self) -> bool:
        """The server has a walreceiver process: WAL may be arriving, and flushes confirmed to
        an upstream, at any moment. Reads /proc; a server with none receives nothing."""
        pid = self._postmaster.current_pid()
        return pid is not None and any("walreceiver" in title for title in child_titles(pid))

    def quit_orphan(self) -> bool:
        """Stop a postmaster whose data directory (and pid file) vanished; pg_ctl cannot."""
        return self._postmaster.quit_orphan()

    def start(self, cancel: CancelToken | None = None) -> CommandResult:
        if remove_stale_pid_file(self._o.datadir):
            log.info("removed a stale postmaster.pid from %s (it named no server of it)", self._o.datadir)
        argv = pg_ctl_start_argv(self._o.tools, self._o.datadir, self._o.postmaster_log, self._o.start_timeout_s,
                                 self._o.nice)
        return self._run.run(argv, timeout_s=self._o.start_timeout_s + 5, cancel=cancel)

    def stop(self, mode: StopMode, timeout_s: int = 60) -> CommandResult:
        self._postmaster.current_pid()  # remember which process to wait for
        argv = pg_ctl_stop_argv(self._o.tools, self._o.datadir, mode, timeout_s)
        result = self._run.run(argv, timeout_s=timeout_s + 5)
        if result.ok:
            self._postmaster.wait_gone()
        return result

    def request_stop(self, mode: StopMode) -> CommandResult:
        """Signal the postmaster to shut down and return at once.

        The signal pg_ctl would send (SIGINT for fast, SIGQUIT for immediate), sent directly to
        the pid in postmaster.pid: on a switchover's path, starting pg_ctl costs tens of
        milliseconds on a loaded machine. pg_ctl stays the fallback when the signal cannot be
        sent (no pid file, another user's process).
        """
        self._postmaster.current_pid()
        argv = pg_ctl_stop_argv(self._o.tools, self._o.datadir, mode, wait=False)
        pid = postmaster_pid(self._o.datadir)  # what pg_ctl would signal: the pid file's live pid
        if pid is not None:
            try:
                os.kill(pid, _STOP_SIGNALS[mode])
                return CommandResult(("kill", str(pid)), 0, "", "")
            except OSError:
                pass
        return self._run.run(argv, timeout_s=30)

    def promote(self) -> CommandResult:
        argv = pg_ctl_promote_argv(self._o.tools, self._o.datadir, self._o.start_timeout_s)
        return self._run.run(argv, timeout_s=self._o.start_timeout_s + 5)

    def reload(self) -> CommandResult:
        return self._run.run(pg_ctl_reload_argv(self._o.tools, self._o.datadir), timeout_s=30)

    def wal_end(self, control: ControlData) -> WalEnd | None:
        """Where the stopped server's valid WAL ends (pg/wal_end.py); None when pg_waldump
        cannot tell, and the caller keeps the checkpoint as its lower bound."""
        pg_wal = self._o.datadir / "pg_wal"
        try:
            segments, size = list_segments(pg_wal)
        except OSError:
            # pg_wal is not readable by the agent (a test running the server as another user):
            # read the checkpoint's own timeline, in segments of the default size.
            segments, size = [], 0
        start = dump_start(segments, size, control.redo_lsn) if segments else (control.timeline, control.redo_lsn)
        if start is None:
            return None
        timeline, start_lsn = start
        result = self._run.run(waldump_argv(self._o.tools.waldump, pg_wal, timeline, start_lsn),
                               timeout_s=60, env=C_LOCALE)
        end = parse_dump_end(result.stderr, size or DEFAULT_SEGMENT_SIZE)
        return None if end is None else WalEnd(timeline, end)

    def controldata(self) -> ControlData | None:
        """pg_control read directly (pg/control_file.py), else through pg_controldata."""
        control = read_control_file(self._o.datadir)
        if control is not None:
            return control
        result = self._run.run(controldata_argv(self._o.tools, self._o.datadir), timeout_s=30, env=C_LOCALE)
        if not result.ok:
            return None
        try:
            return parse_controldata(result.stdout)
        except ControlDataError:
            return None  # a truncated pg_control or a foreign build's output: treat as unreadable
