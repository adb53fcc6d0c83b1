"""Cloning a replica from the leader with pg_basebackup (seed 000 §7.4)."""

from __future__ import annotations

from .cancel import CancelToken, Cancelled
from .commands import basebackup_argv
from .conninfo import Endpoint
from .datadir import datadir_state, forget_unfinished_rewind
from .errors import PgError
from .files import FileWriter, remove_contents
from .options import PgOptions
from .process import CommandRunner
from .status import DataDirState


class Cloner:
    def __init__(self, options: PgOptions, runner: CommandRunner, writer: FileWriter) -> None:
        self._o = options
        self._run = runner
        self._writer = writer

    def clone(self, leader: Endpoint, cancel: CancelToken | None = None) -> None:
        """Copy the leader's data directory into our EMPTY one.

        A failed or cancelled copy is removed again, so the next attempt (and the HA loop's
        view of 'empty data directory') starts clean.
        """
        if datadir_state(self._o.datadir) is not DataDirState.EMPTY:
            raise PgError(f"refusing to clone into {self._o.datadir}: it is not empty (wipe it first)")
        forget_unfinished_rewind(self._o.datadir)
        self._writer.make_dir(self._o.datadir)
        argv = basebackup_argv(
            self._o.tools,
            leader.host,
            leader.port,
            self._o.replication_user,
            self._o.datadir,
            application_name=self._o.clone_application_name,
            passfile=self._o.passfile,
        )
        try:
            result = self._run.run(argv, timeout_s=None, cancel=cancel)
        except Cancelled:
            remove_contents(self._o.datadir)
            raise
        if not result.ok:
            remove_contents(self._o.datadir)
            raise PgError(f"base backup from {leader.describe()} failed: {result.describe_failure()}")
