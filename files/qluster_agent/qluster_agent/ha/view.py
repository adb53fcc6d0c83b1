"""What the consensus runtime tells the HA loop about the cluster, as one frozen snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config.model import MemberRole
from ..pg.conninfo import Endpoint
from ..pg.operation import LongOperation


@dataclass(frozen=True)
class Member:
    id: int
    role: MemberRole
    host: str
    db_port: int | None = None
    # The WAL position the member last reported (its PgStatus.wal_position); None: no data.
    wal_position: int | None = None
    # The member's beacon says its database runs as a writable primary.
    db_primary: bool = False
    # The member's beacon says its database streams WAL from an upstream.
    streaming: bool = False
    # The member's beacon says it is creating the cluster's database: initdb, its first start,
    # then its roles and passwords (which a replica may need to log in to clone it).
    db_bootstrapping: bool = False

    @property
    def db_endpoint(self) -> Endpoint | None:
        return Endpoint(self.host, self.db_port) if self.db_port is not None else None


@dataclass(frozen=True)
class ClusterView:
    my_id: int
    # I am the consensus leader ...
    is_leader: bool
    # ... and my lease is valid: a majority heard from me recently enough that nobody else can
    # have been elected. A leader without it must not accept writes.
    has_quorum: bool
    leader_id: int | None
    members: tuple[Member, ...] = field(default_factory=tuple)
    # /opt/qluster/add_node exists: join as a new replica via base backup (seed 000 §7.2).
    add_node_marker: bool = False
    switchover_target: int | None = None
    # The long operation the executor is running, if any.
    operation: LongOperation | None = None
    operation_started_at: float | None = None  # same clock as decide()'s `now`
    # After a long operation failed, the loop may ask for a pause before the next one (e.g. a
    # base backup from a leader whose database is still starting): no long action before this.
    retry_not_before: float | None = None
    last_failure: str | None = None  # one line: what failed, for the reason
    # The cluster's database exists (its system identifier was recorded): never initdb again.
    database_system: int | None = None
    quorum_replication: bool = True
    replication_factor: int = 0
    # Maintenance mode (ClusterState.paused): decide() leaves the database as it is.
    paused: bool = False

    def member(self, member_id: int | None) -> Member | None:
        return next((m for m in self.members if m.id == member_id), None)

    @property
    def me(self) -> Member | None:
        return self.member(self.my_id)

    @property
    def am_observer(self) -> bool:
        me = self.me
        return me is not None and me.role is MemberRole.OBSERVER

    @property
    def leader_endpoint(self) -> Endpoint | None:
        """The leader's database address, when there is a leader other than me that we know."""
        if self.leader_id is None or self.leader_id == self.my_id:
            return None
        leader = self.member(self.leader_id)
        return leader.db_endpoint if leader else None

    @property
    def leader_db_primary(self) -> bool:
        """The leader (not me) reports its database running as the primary: something to copy from."""
        if self.leader_id is None or self.leader_id == self.my_id:
            return False
        leader = self.member(self.leader_id)
        return leader is not None and leader.db_primary

    @property
    def leader_db_bootstrapping(self) -> bool:
        """The leader (not me) reports it is still creating the cluster's database."""
        if self.leader_id is None or self.leader_id == self.my_id:
            return False
        leader = self.member(self.leader_id)
        return leader is not None and leader.db_bootstrapping

    @property
    def another_replica_streams(self) -> bool:
        """A member other than me and the leader reports streaming: with quorum commit it can
        acknowledge commits while my walreceiver restarts."""
        return any(m.streaming for m in self.members if m.id not in (self.my_id, self.leader_id))

    @property
    def others_hold_data(self) -> bool:
        """Some other member reported WAL: a database exists, so this node must not initdb."""
        return any(m.wal_position is not None for m in self.members if m.id != self.my_id)
