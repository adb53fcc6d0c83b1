import ipaddress

import pytest
import yaml

from qluster_agent.config import (
    AgentConfig,
    ConfigError,
    UdpEndpoint,
    MemberRole,
    config_path_from_env,
    load_config,
    parse_config,
)

from .seed import SEED_CONFIG_YAML


def problems_of(document) -> str:
    with pytest.raises(ConfigError) as error:
        parse_config(document)
    return str(error.value)


def with_cluster(**cluster) -> dict:
    return {"ip": "10.0.0.1", "cluster": cluster}


def test_the_seed_file_loads_exactly_as_written(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(SEED_CONFIG_YAML)
    config = load_config(str(path))
    assert config.ip == "192.168.90.48"
    assert config.api_port == 8080
    socket = config.udp.socket
    assert socket.group == UdpEndpoint("239.0.0.1", 9999)
    assert socket.interface == "ens18"
    assert socket.pacing_rate == 268435456
    assert socket.loopback is False
    assert (socket.send_buffer_size, socket.recv_buffer_size) == (1048576, 1048576)
    assert config.udp.max_log_size == 64000
    assert (config.udp.send_buffer_capacity, config.udp.recv_buffer_capacity) == (256, 256)
    assert config.udp.peers == ()
    cluster = config.cluster
    assert (cluster.node_timeout, cluster.heartbeat_interval) == (30.0, 10.0)
    assert (cluster.pre_voting_timeout, cluster.leader_voting_timeout) == (10.0, 10.0)
    assert cluster.quorum_replication is True and cluster.replication_factor == 0
    assert cluster.replication_retry_interval == 1.0
    assert cluster.autoremove_enabled is False and cluster.autoremove_minimum == 3
    assert (cluster.remove_interval, cluster.set_leader_timeout) == (60.0, 30.0)
    assert config.hello_retry_interval == 1.0


def test_omitted_keys_take_the_fast_lan_defaults():
    config = parse_config({"ip": "10.0.0.7"})
    cluster = config.cluster
    assert cluster.node_timeout == 0.8
    assert cluster.heartbeat_interval == 0.1
    assert (cluster.pre_voting_timeout, cluster.leader_voting_timeout) == (0.4, 0.4)
    assert cluster.replication_retry_interval == 0.2
    assert (cluster.quorum_replication, cluster.replication_factor) == (True, 0)
    assert (cluster.autoremove_enabled, cluster.autoremove_minimum) == (False, 3)
    assert (cluster.remove_interval, cluster.set_leader_timeout) == (60.0, 5.0)
    assert config.hello_retry_interval == 1.0
    assert config.api_port == 8080
    assert config.udp.socket.group == UdpEndpoint("239.0.0.1", 9999)
    assert config.udp.socket.interface is None
    assert config.udp.socket.pacing_rate == 268435456 and config.udp.socket.loopback is False
    assert config.udp.socket.send_buffer_size == config.udp.socket.recv_buffer_size == 1 << 20
    assert config.udp.max_log_size == 64000
    assert config.udp.send_buffer_capacity == config.udp.recv_buffer_capacity == 256
    # extensions
    assert config.cluster_id == "qluster"
    assert config.node_id == int(ipaddress.IPv4Address("10.0.0.7"))
    assert config.role is MemberRole.VOTER
    assert config.data_dir == "/var/lib/qluster"
    assert config.secret is None and config.secret_file == "/etc/qluster/secret"
    assert config.insecure_no_auth is False
    assert config.api_token is None and config.api_token_file is None
    assert config.tick_interval == 0.05
    assert config.postgres.flavour == "postgresql" and config.postgres.nice == 10
    assert config.postgres.add_node_marker == "/opt/qluster/add_node" and config.postgres.superuser is None
    assert config.unicast is False


def test_the_config_is_immutable():
    config = parse_config({"ip": "10.0.0.7"})
    with pytest.raises(AttributeError):
        config.ip = "10.0.0.8"  # type: ignore[misc]
    assert isinstance(config, AgentConfig)


def test_the_node_id_derived_from_the_ip_is_stable_and_distinct():
    first = parse_config({"ip": "192.168.90.48"}).node_id
    assert first == parse_config({"ip": "192.168.90.48"}).node_id
    assert first != parse_config({"ip": "192.168.90.49"}).node_id
    assert parse_config({"ip": "192.168.90.48", "node-id": 7}).node_id == 7


def test_extensions_are_parsed():
    config = parse_config({
        "ip": "10.0.0.1",
        "cluster-id": "prod-1",
        "role": "observer",
        "data-dir": "/srv/qluster",
        "secret": "0123456789abcdef0123",
        "api-token-file": "/etc/qluster/api-token",
        "tick-interval": "20ms",
        "udp": {"peers": ["10.0.0.1:9999", "10.0.0.2", "10.0.0.3:7000"], "socket": {"interface": "10.0.0.1"}},
        "postgres": {"flavour": "qhb", "bin-dir": "/opt/qhb/bin", "nice": 0, "wal-archive": False},
    })
    assert config.cluster_id == "prod-1"
    assert config.role is MemberRole.OBSERVER
    assert config.data_dir == "/srv/qluster"
    assert config.secret == "0123456789abcdef0123" and config.secret_file is None
    assert "0123456789abcdef0123" not in repr(config)
    assert config.api_token_file == "/etc/qluster/api-token"
    assert config.tick_interval == 0.02
    assert config.udp.peers == (UdpEndpoint("10.0.0.1", 9999), UdpEndpoint("10.0.0.2", 9999), UdpEndpoint("10.0.0.3", 7000))
    assert config.unicast is True
    assert config.udp.socket.interface == "10.0.0.1"
    assert (config.postgres.flavour, config.postgres.bin_dir, config.postgres.nice) == ("qhb", "/opt/qhb/bin", 0)
    assert config.postgres.wal_archive is False


def test_insecure_mode_needs_no_secret_file():
    config = parse_config({"ip": "10.0.0.1", "insecure-no-auth": True})
    assert config.secret_file is None and config.insecure_no_auth is True


@pytest.mark.parametrize(
    "document, expected",
    [
        (with_cluster(**{"node-timeout": "abc"}),
         "config error: cluster.node-timeout: 'abc' is not a duration (use e.g. 500ms, 5s, 1m)"),
        ({}, "config error: ip: missing (This node's own address, as other nodes reach it)"),
        ({"ip": "server-1"}, "config error: ip: 'server-1' is not an IPv4 address"),
        ({"ip": "239.1.1.1"}, "config error: ip: '239.1.1.1' is not a unicast IPv4 address"),
        ({"ip": "10.0.0.1", "api-port": 70000}, "config error: api-port: 70000 is out of range 1..65535"),
        ({"ip": "10.0.0.1", "api-port": "8080"}, "config error: api-port: '8080' is not an integer"),
        ({"ip": "10.0.0.1", "api_port": 8080}, "config error: api_port: unknown key (did you mean api-port?)"),
        ({"ip": "10.0.0.1", "node-timeout": "1s"},
         "config error: node-timeout: unknown key (did you mean cluster.node-timeout?)"),
        ({"ip": "10.0.0.1", "cluster": {"heartbeat-intervall": "1s"}},
         "config error: cluster.heartbeat-intervall: unknown key (did you mean cluster.heartbeat-interval?)"),
        ({"ip": "10.0.0.1", "verbosity": 3}, "config error: verbosity: unknown key"),
        ({"ip": "10.0.0.1", "udp": "fast"}, "config error: udp: 'fast' is not a section (a mapping of keys)"),
        ({"ip": "10.0.0.1", "udp": {"socket": {"group": "10.0.0.9:9999"}}},
         "config error: udp.socket.group: '10.0.0.9:9999' is not a multicast address (224.0.0.0/4)"),
        ({"ip": "10.0.0.1", "udp": {"socket": {"group": "239.0.0.1"}}},
         "config error: udp.socket.group: '239.0.0.1' is not host:port"),
        ({"ip": "10.0.0.1", "udp": {"socket": {"interface": "not an interface"}}},
         "config error: udp.socket.interface: 'not an interface' is neither an interface name nor an IPv4 address"),
        ({"ip": "10.0.0.1", "udp": {"socket": {"loopback": "no"}}},
         "config error: udp.socket.loopback: 'no' is not a boolean (use true or false)"),
        ({"ip": "10.0.0.1", "udp": {"max-log-size": 70000}},
         "config error: udp.max-log-size: 70000 is out of range 512..65400"),
        ({"ip": "10.0.0.1", "udp": {"send-buffer-capacity": 0}},
         "config error: udp.send-buffer-capacity: 0 is out of range 1..1000000"),
        ({"ip": "10.0.0.1", "udp": {"peers": ["10.0.0.2:99999"]}},
         "config error: udp.peers: '10.0.0.2:99999' has no valid port (1..65535)"),
        ({"ip": "10.0.0.1", "udp": {"peers": "10.0.0.2"}},
         "config error: udp.peers: '10.0.0.2' is not a list of host:port"),
        (with_cluster(**{"heartbeat-interval": "2s", "node-timeout": "1s"}),
         "config error: cluster.heartbeat-interval: '2s' is out of range 50ms..1s at cluster.node-timeout '1s' "
         "and tick-interval '50ms'"),
        (with_cluster(**{"quorum-replication": False}),
         "config error: cluster.replication-factor: 0 with cluster.quorum-replication false leaves no "
         "commit rule (set quorum-replication: true or replication-factor >= 1)"),
        (with_cluster(**{"autoremove-minimum": -1}),
         "config error: cluster.autoremove-minimum: -1 is out of range 0..1000"),
        (with_cluster(**{"remove-interval": "0s"}),
         "config error: cluster.remove-interval: '0s' is out of range 1s..24h"),
        (with_cluster(**{"node-timeout": "99999999999999999999h"}),
         "config error: cluster.node-timeout: '99999999999999999999h' is out of range 100ms..1m"),
        ({"ip": "10.0.0.1", "tick-interval": "250ms", "cluster": {"heartbeat-interval": "250ms"}},
         "config error: cluster.node-timeout: '800ms' is out of range 1s..1m at tick-interval '250ms' "
         "(4..100000 ticks)"),
        ({"ip": "10.0.0.1", "tick-interval": "200ms"},
         "config error: cluster.heartbeat-interval: '100ms' is out of range 200ms..800ms at cluster.node-timeout "
         "'800ms' and tick-interval '200ms'"),
        ({"ip": "10.0.0.1", "node-id": 0}, "config error: node-id: 0 is out of range 1..9223372036854775807"),
        ({"ip": "10.0.0.1", "role": "leader"}, "config error: role: 'leader' is not a role (use voter or observer)"),
        ({"ip": "10.0.0.1", "data-dir": "data"}, "config error: data-dir: 'data' is not an absolute path"),
        ({"ip": "10.0.0.1", "cluster-id": "a b"},
         "config error: cluster-id: 'a b' must be 1-64 characters of letters, digits, '.', '_' or '-'"),
        ({"ip": "10.0.0.1", "secret": "short"}, "config error: secret: the secret is shorter than 16 bytes"),
        ({"ip": "10.0.0.1", "secret": "0123456789abcdef", "secret-file": "/etc/s"},
         "config error: secret: set together with secret-file; keep only one"),
        ({"ip": "10.0.0.1", "insecure-no-auth": True, "secret-file": "/etc/s"},
         "config error: insecure-no-auth: true together with a secret; remove one of them"),
        ({"ip": "10.0.0.1", "postgres": [1]}, "config error: postgres: [1] is not a section (a mapping of keys)"),
        ({"ip": "10.0.0.1", "postgres": {"flavor": "qhb"}},
         "config error: postgres.flavor: unknown key (did you mean postgres.flavour?)"),
        ({"ip": "10.0.0.1", "postgres": {"flavour": "oracle"}}, "config error: postgres.flavour: 'oracle' is not postgresql or qhb"),
        ({"ip": "10.0.0.1", "postgres": {"nice": 20}}, "config error: postgres.nice: 20 is out of range 0..19"),
        ({"ip": "10.0.0.1", "postgres": {"bin-dir": "bin"}}, "config error: postgres.bin-dir: 'bin' is not an absolute path"),
        (["ip"], "config error: the file must be a mapping of keys, not list"),
    ],
)
def test_a_bad_file_fails_with_one_line_naming_the_key_and_value(document, expected):
    message = problems_of(document)
    assert message == expected
    assert "\n" not in message


def test_every_problem_is_reported_on_the_one_line():
    message = problems_of({"ip": "x", "api-port": 0, "cluster": {"node-timeout": 5}})
    assert message == (
        "config error: ip: 'x' is not an IPv4 address; api-port: 0 is out of range 1..65535; "
        "cluster.node-timeout: 5 has no unit (use e.g. 500ms, 5s, 1m)"
    )


def test_the_secret_is_never_echoed():
    assert "tiny-secret" not in problems_of({"ip": "10.0.0.1", "secret": "tiny-secret"})


def test_load_config_reports_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match=r"^config error: .*/missing.yaml: No such file or directory$"):
        load_config(str(tmp_path / "missing.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("ip: [\n")
    with pytest.raises(ConfigError, match=r"^config error: .*broken.yaml: not valid YAML at line 2$"):
        load_config(str(broken))


def test_an_empty_file_reports_the_missing_ip(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match=r"^config error: ip: missing"):
        load_config(str(empty))


def test_the_config_path_comes_from_the_env_file_of_the_seed():
    assert config_path_from_env({"CONFIG_PATH": "/opt/qluster/config.yaml"}) == "/opt/qluster/config.yaml"
    assert config_path_from_env({}) == "/etc/qluster/config.yaml"


def test_an_empty_postgres_section_takes_the_defaults():
    # `postgres:` with nothing under it reads as null, as the pass-through mapping took it.
    assert parse_config({"ip": "10.0.0.1", "postgres": None}).postgres == parse_config({"ip": "10.0.0.1"}).postgres


def test_yaml_sexagesimal_and_bare_numbers_are_not_taken_for_durations():
    document = yaml.safe_load("ip: 10.0.0.1\ncluster:\n  node-timeout: 1:30\n")
    assert "cluster.node-timeout: 90 has no unit" in problems_of(document)
