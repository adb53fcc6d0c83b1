"""Writing small files into the data directory, owned by the database user."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..walarchive.archive import fsync_dir
from .process import OsUser


class FileWriter:
    """Atomic writes (temp file, fsync, rename) that leave files owned by `owner`.

    The owner matters when the agent runs as root (tests): the server must be able to read the
    files it is told to include. In production the agent is the database user and owner is None.
    """

    def __init__(self, owner: str | None = None) -> None:
        self._owner = owner

    def write_text(self, path: Path, text: str, mode: int = 0o600) -> None:
        tmp = path.with_name(f".{path.name}.qluster-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            self._chown(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)

    def write_if_changed(self, path: Path, text: str, mode: int = 0o600) -> bool:
        if path.exists() and path.read_text(encoding="utf-8") == text:
            return False
        self.write_text(path, text, mode)
        return True

    def copy(self, source: Path, target: Path, mode: int = 0o600) -> None:
        self.write_text(target, source.read_text(encoding="utf-8"), mode)

    def touch(self, path: Path) -> None:
        if not path.exists():
            self.write_text(path, "")

    def make_dir(self, path: Path, mode: int = 0o700) -> None:
        path.mkdir(mode=mode, parents=True, exist_ok=True)
        os.chmod(path, mode)
        self._chown(path)

    def _chown(self, path: Path) -> None:
        if self._owner is None or os.geteuid() != 0:
            return
        user = OsUser.lookup(self._owner)
        os.chown(path, user.uid, user.gid)


def remove_contents(directory: Path) -> None:
    """Delete everything inside a directory but keep the directory itself.

    The data directory is often a mount point, and its mode (0700) and owner were set by the
    Ansible role; deleting and recreating it would lose both.
    """
    if not directory.exists():
        return
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    fsync_dir(directory)
