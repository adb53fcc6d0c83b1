"""The configuration of `qluster-haproxy-sync` (a YAML file the qcp_host role writes).

```yaml
map-url: http://127.0.0.1:8080/map          # the local agent's cluster map
haproxy-socket: /run/haproxy/admin.sock     # HAProxy's admin-level stats socket
backends: [pg_rw, pg_ro]                    # the backends whose servers this program owns
leader-backend: pg_rw                       # of those, the leader's: a former leader leaves it at once ('' : never)
server-options: check inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
interval: 1s                                # between rounds while everything answers
max-backoff: 30s                            # the longest pause between retries after failures
log-repeat: 1m                              # an ongoing problem is logged again at most this often
timeout: 2s                                 # for one HTTP request or socket exchange
state-file: /var/lib/qluster-haproxy-sync/members.json   # the last members seen, kept across restarts
seed: [{name: qluster-01, address: 192.168.90.48, db_port: 5432, api_port: 8080}]
api-cafile: /etc/qluster/tls/ca.pem         # set: the nodes' APIs speak HTTPS (their api-certfile)
api-certfile: /etc/qluster/tls/node.pem     # client certificate to present to them (optional)
api-keyfile: /etc/qluster/tls/node.key
hold-databases: [postgres_tx, qhb_tx]      # PgBouncer's transaction-pooled databases, paused for a switchover
hold-session-databases: [postgres, qhb]     # session-pooled ones paused with them: their logins wait too
hold-file: /run/qluster-haproxy-sync/hold.json   # {"held_for": <member id>} while they are, for the observer
hold-timeout: 15s                           # a hold ends after this long whatever happened
failover-hold: true                         # also hold them while the leader is silent (a failover)
failover-hold-timeout: null                 # ... at most this long; null: twice the cluster's node-timeout
haproxy-session-log: /var/lib/haproxy/qluster-haproxy-sync/sessions.sock   # HAProxy's read-write frontend logs
                                            # every session's end here: the leader's ending together start the hold
pgbouncer-socket-dir: /var/run/postgresql   # PgBouncer's unix_socket_dir ...
pgbouncer-port: 5432                        # ... and listen_port: its admin console's socket
pgbouncer-admin-user: qluster_hold          # one of PgBouncer's admin_users
pgbouncer-password-file: /etc/qluster/pgbouncer-hold-password   # its password (userlist.txt)
```

With `hold-databases` empty (the default) the sync never touches PgBouncer (hold.py says when
it does).

With `api-cafile` set, a node's /primary is asked over https://, its certificate checked against
that CA and its IP address; an https:// map-url is checked the same way. The local observer's
map stays readable over http://127.0.0.1 (its plain loopback listener).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from ..config.durations import parse_duration
from .plan import Member, MapError, members_from_json

DEFAULTS: dict[str, Any] = {
    "map-url": "http://127.0.0.1:8080/map",
    "haproxy-socket": "/run/haproxy/admin.sock",
    "backends": ["pg_rw", "pg_ro"],
    "leader-backend": "pg_rw",
    "server-options": "check inter 1s fall 2 rise 1 on-marked-down shutdown-sessions",
    "interval": "1s",
    "max-backoff": "30s",
    "log-repeat": "1m",
    "timeout": "2s",
    "state-file": "/var/lib/qluster-haproxy-sync/members.json",
    "seed": [],
    "api-cafile": None,
    "api-certfile": None,
    "api-keyfile": None,
    "hold-databases": [],
    "hold-session-databases": [],
    "hold-file": "/run/qluster-haproxy-sync/hold.json",
    "hold-timeout": "15s",
    "failover-hold": True,
    "failover-hold-timeout": None,
    "haproxy-session-log": None,
    "pgbouncer-socket-dir": "/var/run/postgresql",
    "pgbouncer-port": 5432,
    "pgbouncer-admin-user": "qluster_hold",
    "pgbouncer-password-file": "/etc/qluster/pgbouncer-hold-password",
}
# Set by the program itself for each server (from the map), so not allowed in server-options.
_RESERVED_OPTIONS = ("port", "addr", "weight", "disabled", "enabled", "id")
_BACKEND = re.compile(r"^[A-Za-z0-9_.:-]+$")
# A PgBouncer database or user name the admin console takes unquoted.
_PGBOUNCER_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class SyncSettings:
    map_url: str
    haproxy_socket: str
    backends: tuple[str, ...]
    leader_backend: str
    server_options: str
    interval: float
    max_backoff: float
    log_repeat: float
    timeout: float
    state_file: str
    seed: tuple[Member, ...]
    api_cafile: str | None = None
    api_certfile: str | None = None
    api_keyfile: str | None = None
    hold_databases: tuple[str, ...] = ()
    hold_session_databases: tuple[str, ...] = ()
    hold_file: str = DEFAULTS["hold-file"]
    hold_timeout: float = 15.0
    failover_hold: bool = True
    failover_hold_timeout: float | None = None  # None: twice the node-timeout the map gives
    haproxy_session_log: str | None = None  # None: HAProxy's aborted-session counters, read each round
    pgbouncer_socket_dir: str = DEFAULTS["pgbouncer-socket-dir"]
    pgbouncer_port: int = DEFAULTS["pgbouncer-port"]
    pgbouncer_admin_user: str = DEFAULTS["pgbouncer-admin-user"]
    pgbouncer_password_file: str = DEFAULTS["pgbouncer-password-file"]


def parse_settings(raw: Any) -> SyncSettings:
    """Validate the whole mapping; one SettingsError naming every bad key and value."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SettingsError(f"the configuration must be a mapping, not {type(raw).__name__}")
    problems = [f"{key}: unknown key (known: {', '.join(DEFAULTS)})" for key in raw if key not in DEFAULTS]
    values = {**DEFAULTS, **raw}
    durations = {}
    for key in ("interval", "max-backoff", "log-repeat", "timeout", "hold-timeout"):
        try:
            durations[key] = parse_duration(values[key])
            if durations[key] <= 0:
                problems.append(f"{key}: must be more than 0")
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    failover_timeout = None
    if values["failover-hold-timeout"] is not None:
        try:
            failover_timeout = parse_duration(values["failover-hold-timeout"])
            if failover_timeout <= 0:
                problems.append("failover-hold-timeout: must be more than 0 (null: twice the cluster's node-timeout)")
        except ValueError as exc:
            problems.append(f"failover-hold-timeout: {exc}")
    if not isinstance(values["failover-hold"], bool):
        problems.append(f"failover-hold: {values['failover-hold']!r} is not true or false")
    if not problems and durations["max-backoff"] < durations["interval"]:
        problems.append(f"max-backoff: {values['max-backoff']!r} is shorter than interval {values['interval']!r}")
    for key in ("map-url", "haproxy-socket", "state-file"):
        if not isinstance(values[key], str) or not values[key]:
            problems.append(f"{key}: {values[key]!r} is not a non-empty string")
    if isinstance(values["map-url"], str) and not values["map-url"].startswith(("http://", "https://")):
        problems.append(f"map-url: {values['map-url']!r} is not an http:// URL")
    backends = values["backends"]
    if not isinstance(backends, list) or not backends or not all(isinstance(b, str) and _BACKEND.match(b)
                                                                 for b in backends):
        problems.append(f"backends: {backends!r} is not a non-empty list of backend names")
    elif len(set(backends)) != len(backends):
        problems.append(f"backends: {backends!r} names a backend twice")
    leader_backend = values["leader-backend"] if values["leader-backend"] is not None else ""
    if not isinstance(leader_backend, str) or (leader_backend and isinstance(backends, list)
                                               and leader_backend not in backends):
        problems.append(f"leader-backend: {leader_backend!r} is not one of the backends {backends!r} (or '')")
    options = values["server-options"]
    if not isinstance(options, str):
        problems.append(f"server-options: {options!r} is not a string")
    else:
        reserved = sorted(set(options.split()) & set(_RESERVED_OPTIONS))
        if reserved:
            problems.append(f"server-options: {', '.join(reserved)} is set per server from the map; leave it out")
        if "check" not in options.split():
            problems.append(f"server-options: {options!r} lacks `check`: without health checks every node "
                            "would take writes")
        if any(c in options for c in ";\n#"):
            problems.append(f"server-options: {options!r} contains ';', '#' or a newline")
    for key in ("api-cafile", "api-certfile", "api-keyfile", "haproxy-session-log"):
        if values[key] is not None and not (isinstance(values[key], str) and values[key].startswith("/")):
            problems.append(f"{key}: {values[key]!r} is not an absolute path")
    if (values["api-certfile"] is None) != (values["api-keyfile"] is None):
        problems.append("api-certfile: api-certfile and api-keyfile go together; set both or neither")
    elif values["api-certfile"] is not None and values["api-cafile"] is None:
        problems.append("api-certfile: set without api-cafile, which says the nodes' APIs speak HTTPS")
    problems += _hold_problems(values)
    seed: tuple[Member, ...] = ()
    try:
        seed = members_from_json(values["seed"])
    except MapError as exc:
        problems.append(f"seed: {exc}")
    if problems:
        raise SettingsError("; ".join(problems))
    return SyncSettings(
        map_url=values["map-url"], haproxy_socket=values["haproxy-socket"], backends=tuple(backends),
        leader_backend=leader_backend,
        server_options=" ".join(options.split()), interval=durations["interval"],
        max_backoff=durations["max-backoff"], log_repeat=durations["log-repeat"], timeout=durations["timeout"],
        state_file=values["state-file"], seed=seed, api_cafile=values["api-cafile"],
        api_certfile=values["api-certfile"], api_keyfile=values["api-keyfile"],
        hold_databases=tuple(values["hold-databases"]), hold_session_databases=tuple(values["hold-session-databases"]),
        hold_file=values["hold-file"],
        hold_timeout=durations["hold-timeout"], failover_hold=values["failover-hold"],
        failover_hold_timeout=failover_timeout, haproxy_session_log=values["haproxy-session-log"],
        pgbouncer_socket_dir=values["pgbouncer-socket-dir"],
        pgbouncer_port=values["pgbouncer-port"], pgbouncer_admin_user=values["pgbouncer-admin-user"],
        pgbouncer_password_file=values["pgbouncer-password-file"])


def _hold_problems(values: dict[str, Any]) -> list[str]:
    """The keys of the switchover hold (hold.py): PgBouncer's databases and how to reach it."""
    problems = []
    for key in ("hold-databases", "hold-session-databases"):
        databases = values[key]
        if not isinstance(databases, list) or not all(isinstance(d, str) and _PGBOUNCER_NAME.match(d) for d in databases):
            problems.append(f"{key}: {databases!r} is not a list of PgBouncer database names "
                            "(letters, digits and _.- only)")
        elif len(set(databases)) != len(databases):
            problems.append(f"{key}: {databases!r} names a database twice")
        elif "pgbouncer" in databases:
            problems.append(f"{key}: pgbouncer is PgBouncer's admin console, which cannot be paused")
    # Both lists are names (no problem so far): the same name in both is one.
    both = set() if problems else set(values["hold-databases"]) & set(values["hold-session-databases"])
    if both:
        problems.append(f"hold-session-databases: {sorted(both)} also in hold-databases")
    if values["hold-session-databases"] and not values["hold-databases"]:
        problems.append("hold-session-databases: set without hold-databases (the holds pause those; these go with them)")
    for key in ("hold-file", "pgbouncer-socket-dir", "pgbouncer-password-file"):
        if not (isinstance(values[key], str) and values[key].startswith("/") and len(values[key]) > 1):
            problems.append(f"{key}: {values[key]!r} is not an absolute path")
    port = values["pgbouncer-port"]
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        problems.append(f"pgbouncer-port: {port!r} is not a TCP port")
    user = values["pgbouncer-admin-user"]
    if not (isinstance(user, str) and _PGBOUNCER_NAME.match(user)):
        problems.append(f"pgbouncer-admin-user: {user!r} is not a user name (letters, digits and _.- only)")
    return problems


def read_admin_password(settings: SyncSettings) -> str:
    """The admin user's password (first line of pgbouncer-password-file); SettingsError naming the key."""
    path = settings.pgbouncer_password_file
    try:
        with open(path, encoding="utf-8") as handle:
            password = handle.readline().strip()
    except OSError as exc:
        raise SettingsError(f"pgbouncer-password-file: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"pgbouncer-password-file: {path} is not UTF-8 text") from None
    if not password:
        raise SettingsError(f"pgbouncer-password-file: {path} is empty")
    return password


def load_settings(path: str) -> SyncSettings:
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path} is not valid YAML: {exc}") from None
    return parse_settings(raw)
