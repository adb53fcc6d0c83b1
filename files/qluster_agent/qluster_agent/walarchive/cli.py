"""`qluster-wal`: archive_command and restore_command for the shared WAL archive.

    archive_command = 'qluster-wal archive %p %f --dest /opt/qhb-backup/wal'
    restore_command = 'qluster-wal restore %f %p --src /opt/qhb-backup/wal'

Exit codes follow what the server expects: 0 only when the work is durably done; archive
failures exit 1 (the server retries the segment); restore exits 1 when the file is not in the
archive (quietly: a standby asks for the next segment every few seconds) and 2 on real errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .archive import ArchiveError, archive_segment
from .restore import NotInArchive, restore_segment

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NOT_FOUND = 1
EXIT_RESTORE_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qluster-wal", description="Archive and restore WAL files.")
    commands = parser.add_subparsers(dest="command", required=True)
    archive = commands.add_parser("archive", help="copy a WAL file into the archive (archive_command)")
    archive.add_argument("path", type=Path, help="%%p: the WAL file, relative to the data directory")
    archive.add_argument("name", help="%%f: the WAL file's name")
    archive.add_argument("--dest", type=Path, required=True, help="archive directory (BACKUP_PATH/wal)")
    restore = commands.add_parser("restore", help="copy a WAL file out of the archive (restore_command)")
    restore.add_argument("name", help="%%f: the WAL file's name")
    restore.add_argument("path", type=Path, help="%%p: where the server wants it")
    restore.add_argument("--src", type=Path, required=True, help="archive directory (BACKUP_PATH/wal)")
    restore.add_argument("--verbose", action="store_true", help="also report files missing from the archive")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "archive":
        try:
            archive_segment(args.path, args.name, args.dest)
        except ArchiveError as exc:
            print(f"qluster-wal archive: {exc}", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    try:
        restore_segment(args.name, args.path, args.src)
    except NotInArchive:
        if args.verbose:
            print(f"qluster-wal restore: {args.name} is not in {args.src}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except ArchiveError as exc:
        print(f"qluster-wal restore: {exc}", file=sys.stderr)
        return EXIT_RESTORE_ERROR
    return EXIT_OK
