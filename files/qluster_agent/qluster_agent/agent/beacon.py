"""What each node announces about itself in its hello datagrams, every hello-retry-interval.

The map (`GET /map`) shows every member's database state and WAL position; nodes learn them
from these beacons rather than through the consensus log, which would grow with every
heartbeat. A beacon is advisory: decisions that need agreement go through consensus.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

from ..pg.status import DbRole


@dataclass(frozen=True)
class Beacon:
    name: str
    address: str
    api_port: int
    db_port: int | None  # None: an observer, no database
    observer: bool
    db_role: DbRole = DbRole.UNKNOWN
    wal_position: int | None = None
    replayed_lsn: int | None = None
    timeline: int | None = None
    streaming: bool = False
    archive_failing: bool = False
    # Its database has a setting reloaded that waits for a restart (pg_settings.pending_restart);
    # None when unknown: no database read, or an older agent's beacon, which lacks the key.
    pending_restart: bool | None = None
    operation: str | None = None  # the long operation in progress, e.g. "base backup"
    decision: str = ""  # the HA loop's last sentence
    vote_context: int = 0  # what this node votes with (agent/vote_context.py)
    # A leader's: the node a switchover hands over to, so the others watch closely meanwhile.
    switchover_to: int | None = None
    # No consensus state yet, waiting to be added: the add_node marker on an empty data
    # directory, or an observer. No sign of an existing cluster (agent/first_start.py); an
    # older agent's beacon lacks the key and so counts as a possible member.
    newcomer: bool = False
    # An observer on a pooler host that holds PgBouncer's transaction-pooled clients for a
    # switchover (config pooler-hold-file): the leader waits for it before it demotes
    # (agent/pooler_hold.py). `pooler_held_for`: the target those clients are held for now.
    holds_pooler: bool = False
    pooler_held_for: int | None = None

    def encode(self) -> bytes:
        return json.dumps({**asdict(self), "db_role": self.db_role.value}, separators=(",", ":")).encode()

    @staticmethod
    def decode(data: bytes) -> "Beacon | None":
        """None for anything that is not a beacon (it is only advisory). Keys this version does not
        know are left out, so a newer agent's beacon still reads during a rolling upgrade."""
        try:
            raw = json.loads(data)
            known = {f.name for f in fields(Beacon)}
            beacon = Beacon(**{key: value for key, value in raw.items() if key in known})
            return replace(beacon, db_role=DbRole.announced(raw.get("db_role", DbRole.UNKNOWN.value)))
        except (ValueError, TypeError, AttributeError):
            return None
