"""Finding the flavour's bin directory when the configuration does not name one (reads disk)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from .flavour import QHB_DEFAULT_HOME, Flavour, FlavourKind, Toolset

DEBIAN_POSTGRESQL_ROOT = Path("/usr/lib/postgresql")


class BinDirNotFound(RuntimeError):
    pass


def find_bin_dir(
    flavour: Flavour,
    bin_dir: Path | None = None,
    pghome: Path | None = None,
    debian_root: Path = DEBIAN_POSTGRESQL_ROOT,
) -> Path:
    """Where the flavour's programs live.

    An explicit bin_dir wins. QHB: $PGHOME/bin (seed 000 §6.4). PostgreSQL: the newest
    /usr/lib/postgresql/<major>/bin holding pg_ctl (Debian layout), else `pg_config --bindir`.
    Debian comes first because there /usr/bin/pg_config belongs to libpq-dev and may name a
    major version whose server is not installed.
    """
    if bin_dir is not None:
        return _checked(Path(bin_dir), flavour)
    if flavour.kind is FlavourKind.QHB:
        return _checked(Path(pghome or QHB_DEFAULT_HOME) / "bin", flavour)
    for candidate in _debian_bin_dirs(debian_root):
        if (candidate / flavour.binaries.ctl).exists():
            return candidate
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return _checked(Path(out.stdout.strip()), flavour)
    raise BinDirNotFound(f"no PostgreSQL bin dir found under {debian_root} or via pg_config")


def toolset_for(flavour: Flavour, bin_dir: Path | None = None, pghome: Path | None = None) -> Toolset:
    return Toolset(find_bin_dir(flavour, bin_dir, pghome), flavour.binaries)


def _debian_bin_dirs(root: Path) -> list[Path]:
    """/usr/lib/postgresql/*/bin, newest major version first."""
    if not root.is_dir():
        return []
    majors = [p for p in root.iterdir() if re.fullmatch(r"\d+(\.\d+)?", p.name)]
    majors.sort(key=lambda p: tuple(int(x) for x in p.name.split(".")), reverse=True)
    return [p / "bin" for p in majors]


def _checked(path: Path, flavour: Flavour) -> Path:
    if not (path / flavour.binaries.ctl).exists():
        raise BinDirNotFound(f"{path} has no {flavour.binaries.ctl}")
    return path
