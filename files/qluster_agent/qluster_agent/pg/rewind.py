"""Bringing a former primary onto the new leader's timeline with pg_rewind."""

from __future__ import annotations

from .cancel import CancelToken
from .commands import rewind_argv, source_server_conninfo
from .conninfo import Endpoint
from .options import PgOptions
from .process import CommandResult, CommandRunner


class Rewinder:
    def __init__(self, options: PgOptions, runner: CommandRunner) -> None:
        self._o = options
        self._run = runner

    def rewind(self, leader: Endpoint, cancel: CancelToken | None = None) -> CommandResult:
        """Run pg_rewind against the stopped local data directory.

        It needs a superuser connection to the leader (the superuser's, never the replication
        role's) and the target's pg_control; on a deleted or half-copied data directory it
        fails and the caller re-clones.
        """
        source = source_server_conninfo(leader, self._o.superuser, self._o.dbname, self._o.passfile)
        argv = rewind_argv(self._o.tools, self._o.datadir, source, restore_target_wal=self._o.wal_archive is not None)
        return self._run.run(argv, timeout_s=None, cancel=cancel)
