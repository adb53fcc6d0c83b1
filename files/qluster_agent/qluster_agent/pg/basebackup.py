"""Cloning a replica from the leader with pg_basebackup (seed 000 §7.4)."""

from __future__ import annotations

import logging

from .cancel import CancelToken, Cancelled
from .commands import basebackup_argv
from .conninfo import Endpoint
from .datadir import datadir_state, forget_unfinished_rewind
from .errors import PgError
from .files import FileWriter, remove_contents
from .options import PgOptions
from .process import CommandResult, CommandRunner
from .status import DataDirState

log = logging.getLogger(__name__)

# pg_basebackup starts streaming WAL a moment after its copy's checkpoint, from that checkpoint
# on. Another copy's checkpoint in that moment (replicas cloning at once, as a new cluster's do)
# can remove the segment it starts at, or invalidate the slot it just made: PostgreSQL 15 then
# ends the stream with one of these. Nothing is wrong with either node, and the other copy is past
# its start by then: copying again at once succeeds, where the retry pause would cost seconds.
RACED_WITH_ANOTHER_COPY = ("has already been removed", "terminating connection due to administrator command")


def raced_with_another_copy(output: str) -> str | None:
    """The line of pg_basebackup's output that says it lost its first WAL to a concurrent
    checkpoint, or None."""
    return next((line.strip() for line in output.splitlines() if any(w in line for w in RACED_WITH_ANOTHER_COPY)),
                None)


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
        result = self._copy(argv, cancel)
        raced = None if result.ok else raced_with_another_copy(result.stderr)
        if raced is not None:
            log.info("base backup from %s lost its first WAL to another copy's checkpoint (%s); copying again",
                     leader.describe(), raced)
            result = self._copy(argv, cancel)
        if not result.ok:
            raise PgError(f"base backup from {leader.describe()} failed: {result.describe_failure()}")

    def _copy(self, argv: list[str], cancel: CancelToken | None) -> CommandResult:
        """One pg_basebackup run; whatever a failed or cancelled one left is removed."""
        try:
            result = self._run.run(argv, timeout_s=None, cancel=cancel)
        except Cancelled:
            remove_contents(self._o.datadir)
            raise
        if not result.ok:
            remove_contents(self._o.datadir)
        return result
