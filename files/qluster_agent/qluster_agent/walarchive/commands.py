"""archive_command / restore_command strings that call this package (pure)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

# The console script the package installs; tests use [sys.executable, "-m", "qluster_agent.walarchive"].
DEFAULT_PROGRAM: tuple[str, ...] = ("qluster-wal",)


def archive_command(archive_dir: Path, program: Sequence[str] = DEFAULT_PROGRAM) -> str:
    """The server substitutes %p (path of the segment, relative to PGDATA) and %f (its name)."""
    return f"{_words(program)} archive %p %f --dest {_words([str(archive_dir)])}"


def restore_command(archive_dir: Path, program: Sequence[str] = DEFAULT_PROGRAM) -> str:
    return f"{_words(program)} restore %f %p --src {_words([str(archive_dir)])}"


def _words(words: Sequence[str]) -> str:
    # %-signs in paths would be taken for placeholders by the server: double them.
    return " ".join(shlex.quote(word).replace("%", "%%") for word in words)
