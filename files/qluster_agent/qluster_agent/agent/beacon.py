"""What each node announces about itself in its hello datagrams, every hello-retry-interval.

The map (`GET /map`) shows every member's database state and WAL position; nodes learn them
from these beacons rather than through the consensus log, which would grow with every
heartbeat. A beacon is advisory: decisions that need agreement go through consensus.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Beacon:
    name: str
    address: str
    api_port: int
    db_port: int | None  # None: an observer, no database
    observer: bool
    db_role: str = "unknown"  # primary | replica | stopped | unavailable | none
    wal_position: int | None = None
    replayed_lsn: int | None = None
    timeline: int | None = None
    streaming: bool = False
    archive_failing: bool = False
    operation: str | None = None  # the long operation in progress, e.g. "base backup"
    decision: str = ""  # the HA loop's last sentence
    vote_context: int = 0  # what this node votes with (agent/vote_context.py)

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @staticmethod
    def decode(data: bytes) -> "Beacon | None":
        """None for anything that is not a beacon of this version (it is only advisory)."""
        try:
            raw = json.loads(data)
            return Beacon(**raw)
        except (ValueError, TypeError):
            return None
