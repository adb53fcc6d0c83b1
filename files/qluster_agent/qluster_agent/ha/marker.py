"""The add_node marker (seed 000 §7.2): an empty file meaning 'join as a new replica'."""

from __future__ import annotations

from pathlib import Path


class AddNodeMarker:
    def __init__(self, path: Path) -> None:
        """`path`: postgres.add-node-marker (config/keys.py holds its default)."""
        self._path = path

    @property
    def path(self) -> Path:
        return self._path

    def exists(self) -> bool:
        return self._path.exists()

    def remove(self) -> None:
        """Called only once the replica streams: until then a restart must clone again."""
        self._path.unlink(missing_ok=True)
