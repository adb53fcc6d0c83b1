"""The parsed configuration: frozen dataclasses, one per section of config.yaml.

Durations are float seconds; every field name is the YAML key with dashes turned into
underscores, so ``cluster.node-timeout`` is ``config.cluster.node_timeout``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True)
class UdpEndpoint:
    """An IPv4 address and a UDP port, written ``host:port`` in the file (udp.socket.group, udp.peers)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    def as_tuple(self) -> tuple[str, int]:
        return (self.host, self.port)


class MemberRole(str, enum.Enum):
    """A voter takes part in elections and commits; an observer (the pooler host) only follows.

    The `role` key of config.yaml, and each member's role in the HA loop's view (ha/view.py)."""

    VOTER = "voter"
    OBSERVER = "observer"


class VerifyClient(str, enum.Enum):
    """``api-verify-client``: when the HTTPS listener asks for and checks client certificates."""

    NONE = "none"  # never asked for
    OPTIONAL = "optional"  # asked for; one presented must chain to api-cafile; changes need one
    REQUIRED = "required"  # every connection needs one


@dataclass(frozen=True)
class SocketSettings:
    """``udp.socket``: how the datagram socket is opened."""

    group: UdpEndpoint
    interface: str | None  # interface name (eth0) or IPv4 address; None means the node's `ip`
    pacing_rate: int  # bytes per second; 0 disables pacing
    loopback: bool
    send_buffer_size: int
    recv_buffer_size: int


@dataclass(frozen=True)
class UdpSettings:
    """``udp``: the transport's limits and, optionally, a unicast peer list."""

    socket: SocketSettings
    max_log_size: int  # most payload bytes one datagram carries
    send_buffer_capacity: int  # messages queued for sending before the oldest is dropped
    recv_buffer_capacity: int  # messages queued for the consensus loop before the oldest is dropped
    peers: tuple[UdpEndpoint, ...] = ()  # non-empty means unicast mode instead of multicast


@dataclass(frozen=True)
class ClusterSettings:
    """``cluster``: consensus timing and policy; the only section changeable at runtime (POST /config)."""

    node_timeout: float
    heartbeat_interval: float
    pre_voting_timeout: float
    leader_voting_timeout: float
    quorum_replication: bool
    replication_factor: int
    replication_retry_interval: float
    autoremove_enabled: bool
    autoremove_minimum: int
    remove_interval: float
    set_leader_timeout: float


@dataclass(frozen=True)
class PostgresSettings:
    """The `postgres:` section: the database supervisor's settings (keys.POSTGRES_KEYS holds
    their defaults and documentation).

    PGDATA, PGPORT, PGUSER, PGHOME and BACKUP_PATH come from the env file (agent/env.py); the
    defaults that depend on them are taken there (agent/pg_setup.py).
    """

    flavour: str
    bin_dir: str | None  # None: found from the flavour and PGHOME
    template_dir: str | None
    superuser: str | None  # None: PGUSER
    replication_user: str | None  # None: the superuser
    database: str | None  # None: the flavour's
    socket_dir: str
    passfile: str | None
    add_node_marker: str
    run_as: str | None
    wal_archive: bool | None  # None: on when BACKUP_PATH is set
    password_file: str | None
    replication_password_file: str | None
    nice: int


@dataclass(frozen=True)
class AgentConfig:
    """The whole config.yaml of one agent."""

    ip: str
    api_port: int
    udp: UdpSettings
    cluster: ClusterSettings
    hello_retry_interval: float
    # Extensions (not in the seed); all optional.
    cluster_id: str
    node_id: int
    role: MemberRole
    data_dir: str
    postgres: PostgresSettings
    secret: str | None = field(default=None, repr=False)
    secret_file: str | None = None
    insecure_no_auth: bool = False
    api_token: str | None = field(default=None, repr=False)
    api_token_file: str | None = None
    api_trust_loopback: bool = True  # derived by the loader: true unless a token is configured
    api_certfile: str | None = None  # set: the API speaks HTTPS on `ip` (api/tls.py)
    api_keyfile: str | None = None
    api_cafile: str | None = None
    api_verify_client: VerifyClient = VerifyClient.OPTIONAL
    tick_interval: float = 0.05
    pooler_hold_file: str | None = None  # an observer on a pooler host (agent/pooler_hold.py)

    @property
    def unicast(self) -> bool:
        return bool(self.udp.peers)
