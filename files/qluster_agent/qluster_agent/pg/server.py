"""Starting, stopping, promoting and reloading the server through pg_ctl."""

from __future__ import annotations

from .cancel import CancelToken
from .commands import (
    StopMode,
    controldata_argv,
    pg_ctl_promote_argv,
    pg_ctl_reload_argv,
    pg_ctl_start_argv,
    pg_ctl_stop_argv,
)
from .controldata import ControlData, ControlDataError, parse_controldata
from .options import PgOptions
from .postmaster import PostmasterTracker
from .process import CommandResult, CommandRunner

# pg_controldata's labels are translated; our parser reads the English ones.
C_LOCALE = {"LANG": "C", "LC_ALL": "C"}


class ServerControl:
    def __init__(self, options: PgOptions, runner: CommandRunner) -> None:
        self._o = options
        self._run = runner
        self._postmaster = PostmasterTracker(options.datadir)

    @property
    def running(self) -> bool:
        """A postmaster for our data directory is alive (reads /proc, starts nothing)."""
        return self._postmaster.current_pid() is not None

    def quit_orphan(self) -> bool:
        """Stop a postmaster whose data directory (and pid file) vanished; pg_ctl cannot."""
        return self._postmaster.quit_orphan()

    def start(self, cancel: CancelToken | None = None) -> CommandResult:
        argv = pg_ctl_start_argv(self._o.tools, self._o.datadir, self._o.postmaster_log, self._o.start_timeout_s)
        return self._run.run(argv, timeout_s=self._o.start_timeout_s + 5, cancel=cancel)

    def stop(self, mode: StopMode, timeout_s: int = 60) -> CommandResult:
        self._postmaster.current_pid()  # remember which process to wait for
        argv = pg_ctl_stop_argv(self._o.tools, self._o.datadir, mode, timeout_s)
        result = self._run.run(argv, timeout_s=timeout_s + 5)
        if result.ok:
            self._postmaster.wait_gone()
        return result

    def request_stop(self, mode: StopMode) -> CommandResult:
        """Signal the postmaster to shut down and return at once."""
        self._postmaster.current_pid()
        return self._run.run(pg_ctl_stop_argv(self._o.tools, self._o.datadir, mode, wait=False), timeout_s=30)

    def promote(self) -> CommandResult:
        argv = pg_ctl_promote_argv(self._o.tools, self._o.datadir, self._o.start_timeout_s)
        return self._run.run(argv, timeout_s=self._o.start_timeout_s + 5)

    def reload(self) -> CommandResult:
        return self._run.run(pg_ctl_reload_argv(self._o.tools, self._o.datadir), timeout_s=30)

    def controldata(self) -> ControlData | None:
        result = self._run.run(controldata_argv(self._o.tools, self._o.datadir), timeout_s=30, env=C_LOCALE)
        if not result.ok:
            return None
        try:
            return parse_controldata(result.stdout)
        except ControlDataError:
            return None  # a truncated pg_control or a foreign build's output: treat as unreadable
