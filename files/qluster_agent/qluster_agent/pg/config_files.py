"""The configuration files in the data directory: templates, our include, signal files."""

from __future__ import annotations

from pathlib import Path

from .files import FileWriter
from .flavour import Flavour
from .settings import (
    MANAGED_FILE_NAME,
    RECOVERY_SIGNAL,
    STANDBY_SIGNAL,
    ManagedSettings,
    ServerRole,
    render_managed_conf,
    with_include,
)


class ConfigFiles:
    """Prepares the data directory's configuration before every start.

    Order matters: templates first (they may replace the main file), then the include line,
    then our file, then the signal file that decides primary or standby.
    """

    def __init__(self, flavour: Flavour, datadir: Path, writer: FileWriter, template_dir: Path | None = None) -> None:
        self._flavour = flavour
        self._datadir = datadir
        self._writer = writer
        self._template_dir = template_dir

    @property
    def managed_file(self) -> Path:
        return self._datadir / MANAGED_FILE_NAME

    @property
    def main_file(self) -> Path:
        return self._datadir / self._flavour.config_file

    def install_templates(self) -> list[str]:
        """Copy the operator's templates (seed 000 §6.1-6.2) into the data directory.

        Done after initdb, base backup and rewind: all three bring another node's (or initdb's
        default) files, while each node's templates may differ (listen addresses, hba subnets).
        The templates themselves are only read.
        """
        if self._template_dir is None:
            return []
        installed = []
        for name in self._flavour.config_files:
            source = self._template_dir / name
            if source.is_file():
                self._writer.copy(source, self._datadir / name, mode=0o600)
                installed.append(name)
        return installed

    def ensure_include(self) -> bool:
        text = self.main_file.read_text(encoding="utf-8") if self.main_file.exists() else ""
        updated = with_include(text)
        if updated is None:
            return False
        self._writer.write_text(self.main_file, updated)
        return True

    def write_managed(self, settings: ManagedSettings) -> bool:
        """Write our include file; True when its content changed (a reload is then needed)."""
        return self._writer.write_if_changed(self.managed_file, render_managed_conf(settings))

    def set_role_signal(self, role: ServerRole) -> None:
        """standby.signal for a replica; none for a primary (recovery.signal never: we do no PITR)."""
        standby = self._datadir / STANDBY_SIGNAL
        (self._datadir / RECOVERY_SIGNAL).unlink(missing_ok=True)
        if role is ServerRole.REPLICA:
            self._writer.touch(standby)
        else:
            standby.unlink(missing_ok=True)

    def prepare(self, settings: ManagedSettings, templates: bool = False) -> None:
        if templates:
            self.install_templates()
        self.ensure_include()
        self.write_managed(settings)
        self.set_role_signal(settings.role)
