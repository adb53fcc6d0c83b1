"""Creating the cluster's database on the first leader (seed 000 §7.3): initdb, then start."""

from __future__ import annotations

from ..walarchive.contents import archived_wal
from .cancel import CancelToken
from .commands import initdb_argv
from .config_files import ConfigFiles
from .datadir import datadir_state, forget_unfinished_rewind
from .errors import PgError
from .files import FileWriter
from .options import PgOptions
from .process import CommandRunner
from .server import ServerControl
from .settings import ServerRole
from .status import DataDirState
from .sync import SyncStandbys


class Bootstrapper:
    def __init__(
        self, options: PgOptions, runner: CommandRunner, writer: FileWriter, config: ConfigFiles, server: ServerControl
    ) -> None:
        self._o = options
        self._run = runner
        self._writer = writer
        self._config = config
        self._server = server

    def bootstrap(self, sync: SyncStandbys, cancel: CancelToken | None = None) -> None:
        if datadir_state(self._o.datadir) is not DataDirState.EMPTY:
            # Never initdb over anything: that is somebody's data (or a half-finished clone).
            raise PgError(f"refusing to initdb: {self._o.datadir} is not empty")
        forget_unfinished_rewind(self._o.datadir)
        self._refuse_a_used_archive()
        self._writer.make_dir(self._o.datadir)
        argv = initdb_argv(self._o.tools, self._o.datadir, self._o.superuser, self._o.initdb_options)
        result = self._run.run(argv, timeout_s=600, cancel=cancel)
        if not result.ok:
            raise PgError(f"initdb failed: {result.describe_failure()}")
        self._config.prepare(
            self._o.managed_settings(ServerRole.PRIMARY, synchronous_standby_names=sync.render()), templates=True
        )
        started = self._server.start(cancel)
        if not started.ok:
            raise PgError(f"the new database did not start: {started.describe_failure()}")

    def _refuse_a_used_archive(self) -> None:
        """A new database archiving into another cluster's WAL would take that cluster's timeline
        histories for its own at its first promotion, and restore its segments: PostgreSQL stops
        with "WAL file is from different database system". Say so before anything is created."""
        archive = self._o.wal_archive
        if archive is None:
            return
        found = archived_wal(archive.directory)
        if found:
            raise PgError(
                f"refusing to initdb: the WAL archive {archive.directory} already holds {len(found)} WAL "
                f"file(s) of an earlier cluster (first {found[0]}, last {found[-1]}); a new cluster "
                "needs an empty archive: empty it, or point BACKUP_PATH at a new directory"
            )
