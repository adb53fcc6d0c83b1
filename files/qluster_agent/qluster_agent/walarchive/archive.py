"""Copying one WAL segment into the archive, durably and without ever overwriting."""

from __future__ import annotations

import errno
import filecmp
import os
import tempfile
from pathlib import Path

_CHUNK = 1 << 20


class ArchiveError(Exception):
    """One line for stderr; the server logs it and retries the segment later."""


def check_wal_name(name: str) -> None:
    # %f is a bare file name; anything with a separator could write outside the archive.
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ArchiveError(f"not a WAL file name: {name!r}")


def archive_segment(source: Path, name: str, dest_dir: Path) -> bool:
    """Archive `source` as dest_dir/name; True if copied, False if an identical copy was there.

    The archive directory must already exist: on the nodes it is an NFS mount, and creating a
    missing one would quietly archive onto the local disk under an unmounted mount point.
    The copy goes to a temporary file in the same directory, is fsynced, and is then published
    with link() (fails if the name appeared meanwhile, unlike rename, which would replace it);
    the directory is fsynced so the new name survives a crash.
    """
    check_wal_name(name)
    try:
        return _archive(source, name, dest_dir)
    except OSError as exc:
        raise ArchiveError(f"cannot archive {name} into {dest_dir}: {exc.strerror or exc}") from None


def _archive(source: Path, name: str, dest_dir: Path) -> bool:
    if not dest_dir.is_dir():
        raise ArchiveError(f"archive directory {dest_dir} does not exist (is the share mounted?)")
    if not source.is_file():
        raise ArchiveError(f"WAL file {source} does not exist")
    target = dest_dir / name
    if target.exists():
        return _same_or_refuse(source, target)
    tmp = _copy_durably(source, dest_dir, name)
    try:
        try:
            os.link(tmp, target)
        except FileExistsError:
            return _same_or_refuse(source, target)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            # A file system without hard links: rename after one more look. The window between
            # the look and the rename is the best such a file system allows.
            if target.exists():
                return _same_or_refuse(source, target)
            os.rename(tmp, target)
        fsync_dir(dest_dir)
        return True
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass


def _same_or_refuse(source: Path, target: Path) -> bool:
    """Identical content: already archived (a retry after a crash). Different: refuse."""
    try:
        same = filecmp.cmp(source, target, shallow=False)
    except OSError as exc:
        raise ArchiveError(f"cannot compare {source} with archived {target}: {exc.strerror or exc}") from None
    if not same:
        raise ArchiveError(f"{target} already exists with different content; refusing to overwrite")
    # The earlier attempt may have crashed after publishing the name but before making the
    # directory entry durable.
    fsync_dir(target.parent)
    return False


def _copy_durably(source: Path, dest_dir: Path, name: str) -> Path:
    """Copy into a new, uniquely named hidden file in dest_dir and fsync it; returns its path."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as writer, open(source, "rb") as reader:
            while chunk := reader.read(_CHUNK):
                writer.write(chunk)
            writer.flush()
            os.fsync(writer.fileno())
    except BaseException:
        os.unlink(tmp_name)  # a full disk must not leave half a segment behind
        raise
    return Path(tmp_name)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
