"""The add_node marker (seed 000 §7.2): an empty file meaning 'join as a new replica'."""

from __future__ import annotations

from pathlib import Path

# Seed 000 §7.2 puts it in the agent's directory; seed 001 writes /qluster/add_node.
DEFAULT_MARKER_PATH = Path("/opt/qluster/add_node")


class AddNodeMarker:
    def __init__(self, path: Path = DEFAULT_MARKER_PATH) -> None:
        self._path = path

    @property
    def path(self) -> Path:
        return self._path

    def exists(self) -> bool:
        return self._path.exists()

    def remove(self) -> None:
        """Called only once the replica streams: until then a restart must clone again."""
        self._path.unlink(missing_ok=True)
