"""The table of every config.yaml key: defined once, it drives parsing, validation, defaults
and docs/agent-config.md (``python -m qluster_agent.config.docs``). KEYS are the agent's own
keys; POSTGRES_KEYS the `postgres:` section, the database supervisor's (agent/pg_setup.py turns
them and the env file into PgOptions).

Every number and duration has a range, checked by its parser for config.yaml and POST /config
alike (checks.py adds the rules between keys). A value outside it is refused, never clamped:
``node-timeout: 99999999999999999999h`` once turned failover off for a whole cluster.
plugins/module_utils/qluster_settings.py mirrors the runtime keys' ranges (tests/modules checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import values as v
from .durations import parse_duration
from .model import UdpEndpoint

REQUIRED = object()  # marks a key that has no default
DERIVED = object()  # marks a key whose default is computed from other keys (see loader)


@dataclass(frozen=True)
class KeySpec:
    path: str  # dotted path of the YAML key, e.g. "udp.socket.group"
    kind: str  # the type as the docs show it
    default: Any  # the parsed default, REQUIRED or DERIVED
    doc: str
    parse: v.Parser
    extension: bool = False  # not in the seed: our addition
    runtime: bool = False  # changeable through POST /config

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    @property
    def range_text(self) -> str | None:
        """The allowed range of a number or duration ("100ms..1m"), None for other kinds."""
        return getattr(self.parse, "range_text", None)


SECTIONS = ("udp", "udp.socket", "cluster", "postgres")
# Sections that may be written with nothing under them (`postgres:` alone reads as null).
EMPTY_SECTIONS = ("postgres",)

_MiB = 1024 * 1024
_DURATION = "duration"

KEYS: tuple[KeySpec, ...] = (
    KeySpec("ip", "IPv4 address", REQUIRED, "This node's own address, as other nodes reach it.", v.node_ipv4),
    KeySpec("api-port", "integer", 8080, "TCP port of the agent's HTTP API.", v.integer(1, 65535)),
    KeySpec(
        "udp.socket.group",
        "multicast host:port",
        UdpEndpoint("239.0.0.1", 9999),
        "Multicast group and UDP port; identical on all nodes. The port is also the listening "
        "port in unicast mode.",
        v.multicast_group,
    ),
    KeySpec(
        "udp.socket.interface",
        "interface name or IPv4 address",
        None,
        "Interface to send and join the group on (e.g. ens18). Its IPv4 address is bound as "
        "IP_MULTICAST_IF and the group is joined on it, so no multicast route is needed. "
        "Default: the interface holding `ip`.",
        v.interface,
    ),
    KeySpec(
        "udp.socket.pacing-rate",
        "integer (bytes/s)",
        268435456,
        "Token-bucket limit on bytes sent per second (headers included); 0 disables pacing.",
        v.integer(0, 2**40),
    ),
    KeySpec("udp.socket.loopback", "boolean", False, "IP_MULTICAST_LOOP: receive own multicast "
            "on this host (needed only for several agents in one network namespace).", v.boolean),
    KeySpec("udp.socket.send-buffer-size", "integer (bytes)", _MiB, "SO_SNDBUF of the socket "
            "(the kernel caps it at net.core.wmem_max).", v.integer(4096, 2**30)),
    KeySpec("udp.socket.recv-buffer-size", "integer (bytes)", _MiB, "SO_RCVBUF of the socket "
            "(the kernel caps it at net.core.rmem_max).", v.integer(4096, 2**30)),
    KeySpec(
        "udp.max-log-size",
        "integer (bytes)",
        64000,
        "Most payload bytes one datagram carries; a larger message is split into fragments, "
        "reassembled, and a lost fragment is asked for again.",
        v.integer(512, 65400),
    ),
    KeySpec("udp.send-buffer-capacity", "integer (messages)", 256, "Messages waiting to be sent; "
            "when full the oldest is dropped and counted.", v.integer(1, 1_000_000)),
    KeySpec("udp.recv-buffer-capacity", "integer (messages)", 256, "Received messages waiting for "
            "the consensus loop; when full the oldest is dropped and counted.", v.integer(1, 1_000_000)),
    KeySpec(
        "udp.peers",
        "list of IPv4[:port]",
        (),
        "Unicast mode for networks without multicast: the address of every node, the pooler "
        "included (this node's own entry is skipped). A port left out is the group's port. "
        "Empty: multicast.",
        v.peer_list,
        extension=True,
    ),
    KeySpec("cluster.node-timeout", _DURATION, parse_duration("800ms"), "How long a follower waits "
            "without hearing the leader before it starts a pre-vote; at least 4 ticks (tick-interval).",
            v.duration("100ms", "60s"), runtime=True),
    KeySpec("cluster.heartbeat-interval", _DURATION, parse_duration("100ms"), "How often the leader "
            "sends heartbeats; at least tick-interval, at most node-timeout. The leader beats at least "
            "four times per lease (5/8 of node-timeout) whatever it says.", v.duration("10ms", "60s"), runtime=True),
    KeySpec("cluster.pre-voting-timeout", _DURATION, parse_duration("400ms"), "Length of the "
            "pre-vote stage.", v.duration("50ms", "60s"), runtime=True),
    KeySpec("cluster.leader-voting-timeout", _DURATION, parse_duration("400ms"), "Length of one "
            "election (vote round).", v.duration("50ms", "60s"), runtime=True),
    KeySpec("cluster.quorum-replication", "boolean", True, "Commit a log entry once n/2+1 nodes "
            "have it.", v.boolean, runtime=True),
    KeySpec("cluster.replication-factor", "integer", 0, "Commit once this many replicas have an "
            "entry; 0 means use the quorum.", v.integer(0, 1000), runtime=True),
    KeySpec("cluster.replication-retry-interval", _DURATION, parse_duration("200ms"), "Retry "
            "interval for log replication after a failure.", v.duration("10ms", "60s"), runtime=True),
    KeySpec("cluster.autoremove-enabled", "boolean", False, "Remove members unreachable for "
            "remove-interval automatically.", v.boolean, runtime=True),
    KeySpec("cluster.autoremove-minimum", "integer", 3, "Automatic removal happens only while "
            "the cluster keeps at least this many members (0: no floor; seed 000 §10.5 posts 0).",
            v.integer(0, 1000), runtime=True),
    KeySpec("cluster.remove-interval", _DURATION, parse_duration("1m"), "How long a member must be "
            "unreachable before autoremove removes it.", v.duration("1s", "24h"), runtime=True),
    KeySpec("cluster.set-leader-timeout", _DURATION, parse_duration("5s"), "Deadline of a "
            "leadership transfer (set-leader).", v.duration("1s", "10m"), runtime=True),
    KeySpec("hello-retry-interval", _DURATION, parse_duration("1s"), "How often a node announces "
            "itself (hello) for peer discovery. A node that would start a new cluster first listens for "
            "two of these (at least 1s) for members of an existing one; with udp.peers it stops as soon "
            "as every listed peer has announced itself as a newcomer waiting to be added.",
            v.duration("100ms", "60s")),
    KeySpec("cluster-id", "string", "qluster", "Name of the cluster; datagrams of another cluster "
            "id are dropped.", v.cluster_id, extension=True),
    KeySpec("node-id", "positive integer", DERIVED, "Unique id of this node. Default: the IPv4 "
            "address of `ip` as an integer (stable and unique on a LAN).",
            v.integer(1, v.MAX_NODE_ID), extension=True),
    KeySpec("role", "voter | observer", v.MemberRole.VOTER, "An observer (the pooler host) follows the "
            "cluster without voting.", v.role, extension=True),
    KeySpec("data-dir", "absolute path", "/var/lib/qluster", "Where the agent keeps its durable "
            "consensus state.", v.absolute_path, extension=True),
    KeySpec("secret", "string (>= 16 bytes)", None, "Shared HMAC-SHA256 key authenticating every "
            "datagram; identical on all nodes. Prefer secret-file.", v.secret_text, extension=True),
    KeySpec("secret-file", "absolute path", DERIVED, "File holding the shared secret (not world-"
            "readable). Default /etc/qluster/secret unless `secret` or `insecure-no-auth` is set.",
            v.absolute_path, extension=True),
    KeySpec("insecure-no-auth", "boolean", False, "Use a fixed, public key instead of a secret: "
            "datagrams are still checked for corruption but anyone on the LAN can forge them. "
            "Only for labs.", v.boolean, extension=True),
    KeySpec("api-token", "string (>= 16 bytes)", None, "Bearer token for the HTTP API's changing "
            "endpoints. Prefer api-token-file.", v.secret_text, extension=True),
    KeySpec("api-token-file", "absolute path", None, "File holding the API token.",
            v.absolute_path, extension=True),
    KeySpec("api-trust-loopback", "boolean", DERIVED, "Accept changes from this node's own loopback "
            "(the seed's curl on the node) without the API token. Default: true without api-token "
            "and api-token-file, false with one.", v.boolean, extension=True),
    KeySpec("api-certfile", "absolute path", None, "PEM certificate (chain) of the API. Set: the API "
            "speaks HTTPS on `ip`:api-port, plain HTTP on 127.0.0.1:api-port only, and changes are "
            "forwarded to the leader over HTTPS. Needs api-keyfile.", v.absolute_path, extension=True),
    KeySpec("api-keyfile", "absolute path", None, "PEM private key of api-certfile (not encrypted, "
            "not readable by everyone).", v.absolute_path, extension=True),
    KeySpec("api-cafile", "absolute path", None, "PEM certificates of the CA that signs the nodes' "
            "and clients' certificates: client certificates are checked against it, and so is the "
            "leader's certificate when a change is forwarded.", v.absolute_path, extension=True),
    KeySpec("api-verify-client", "none | optional | required", v.VerifyClient.OPTIONAL, "Client "
            "certificates on the HTTPS listener. optional: asked for, one presented must chain to "
            "api-cafile, and a change over HTTPS needs one (reads do not); required: every HTTPS "
            "connection needs one; none: never asked for.", v.verify_client, extension=True),
    KeySpec("pooler-hold-file", "absolute path", None, "An observer on a pooler host: the file in "
            "which the pooler's HAProxy sync says that PgBouncer holds its transaction-pooled "
            "clients for a switchover (JSON {\"held_for\": <member id>}). Set: the leader waits, "
            "at most 2 s, for this host to hold them before it demotes its database.",
            v.absolute_path, extension=True),
    KeySpec("tick-interval", _DURATION, parse_duration("50ms"), "The consensus clock: timeouts "
            "are counted in ticks of this length; at most heartbeat-interval.", v.duration("1ms", "1s"),
            extension=True),
)

_PATH = "absolute path"
POSTGRES_KEYS: tuple[KeySpec, ...] = (
    KeySpec("postgres.flavour", "postgresql | qhb", "postgresql", "Which DBMS: its file names "
            "(qhb.conf, qhb_hba.conf), binaries and defaults.", v.flavour, extension=True),
    KeySpec("postgres.bin-dir", _PATH, None, "Where initdb, pg_ctl, ... live. Default: found from the "
            "flavour and PGHOME (the env file).", v.absolute_path, extension=True),
    KeySpec("postgres.template-dir", _PATH, None, "The operator's config templates copied into PGDATA "
            "(seed 000 §6.1-6.2).", v.absolute_path, extension=True),
    KeySpec("postgres.superuser", "string", None, "initdb's, the agent's own and pg_rewind's database "
            "user. Default: PGUSER (the env file).", v.string, extension=True),
    KeySpec("postgres.replication-user", "role name", None, "Role for base backups, streaming and the "
            "leader probe. Default: the superuser. Another name: a role of its own, created right after "
            "initdb with LOGIN REPLICATION and no superuser power (least privilege); 1 to 63 characters "
            "of a-z, 0-9, _ and $, starting with a letter or _, not starting with pg_, not public or none.",
            v.role_name, extension=True),
    KeySpec("postgres.database", "string", None, "Database the agent connects to. Default: the "
            "flavour's.", v.string, extension=True),
    KeySpec("postgres.socket-dir", "string", "/var/run/postgresql", "Unix socket directory.",
            v.string, extension=True),
    KeySpec("postgres.passfile", "string", None, ".pgpass for the connections to the leader "
            "(streaming, base backups, the leader probe, pg_rewind). Default: libpq's (~/.pgpass).",
            v.string, extension=True),
    # Seed 000 §7.2 puts it in the agent's directory; seed 001 writes /qluster/add_node.
    KeySpec("postgres.add-node-marker", _PATH, "/opt/qluster/add_node", "Path of the add_node marker "
            "(seed 000 §7.2): join as a new replica.", v.absolute_path, extension=True),
    KeySpec("postgres.run-as", "string", None, "OS user for database programs when the agent itself "
            "runs as root.", v.string, extension=True),
    KeySpec("postgres.wal-archive", "boolean", None, "Archive WAL to BACKUP_PATH/wal. Default: true "
            "when BACKUP_PATH is set (the env file); true without it is refused at start.",
            v.boolean, extension=True),
    KeySpec("postgres.password-file", _PATH, None, "Password given to the superuser right after initdb "
            "(and to replication-user when that is the superuser); not readable by everyone.",
            v.absolute_path, extension=True),
    KeySpec("postgres.replication-password-file", _PATH, None, "Password given to replication-user "
            "right after initdb; required with a replication-user of its own and password-file, "
            "refused without one.", v.absolute_path, extension=True),
    KeySpec("postgres.nice", "integer", 10, "How much nicer than the agent the database runs, with the "
            "lowest best-effort disk priority when above 0.", v.integer(0, 19), extension=True),
)

ALL_KEYS: tuple[KeySpec, ...] = KEYS + POSTGRES_KEYS
KEYS_BY_PATH: dict[str, KeySpec] = {spec.path: spec for spec in ALL_KEYS}
RUNTIME_KEYS: tuple[KeySpec, ...] = tuple(spec for spec in KEYS if spec.runtime)
