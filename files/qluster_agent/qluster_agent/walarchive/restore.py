"""Copying one WAL file out of the archive for a standby or a recovering server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .archive import ArchiveError, check_wal_name


class NotInArchive(Exception):
    """The normal end of the archive: the server asks for segments until one is missing."""


def restore_segment(name: str, target: Path, src_dir: Path) -> None:
    """Copy src_dir/name to target via a temporary file and rename.

    The server reads `target` as soon as we exit 0, so it must never see a half-written file.
    """
    check_wal_name(name)
    source = src_dir / name
    try:
        present = source.is_file()
    except OSError as exc:
        raise ArchiveError(f"cannot look for {name} in {src_dir}: {exc.strerror or exc}") from None
    if not present:
        raise NotInArchive(name)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise ArchiveError(f"cannot restore {name} to {target}: {exc.strerror or exc}") from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass  # already renamed, or never created
