"""What a WAL archive directory already holds (pure apart from listing one directory)."""

from __future__ import annotations

import os
import re
from pathlib import Path

# Segments (and their .partial / .backup companions) and timeline histories, as the server names
# them; anything else in the directory (an operator's notes, a backup tool's files) is not WAL.
_WAL_NAME = re.compile(r"^([0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$")


def archived_wal(directory: Path) -> list[str]:
    """The WAL file names in the archive, sorted; empty when it holds none or does not exist yet."""
    try:
        with os.scandir(directory) as entries:
            return sorted(e.name for e in entries if _WAL_NAME.match(e.name))
    except FileNotFoundError:
        return []
