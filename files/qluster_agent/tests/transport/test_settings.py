from dataclasses import replace

import pytest
import yaml

from qluster_agent.config import UdpEndpoint, parse_config
from qluster_agent.transport import TransportSettings

from tests.config.seed import SEED_CONFIG_YAML


def test_every_udp_key_of_the_seed_reaches_the_transport():
    settings = TransportSettings.from_config(parse_config(yaml.safe_load(SEED_CONFIG_YAML)))
    assert settings.ip == "192.168.90.48"
    assert settings.group == UdpEndpoint("239.0.0.1", 9999)
    assert settings.interface == "ens18"
    assert settings.pacing_rate == 268435456
    assert settings.loopback is False
    assert (settings.send_buffer_size, settings.recv_buffer_size) == (1048576, 1048576)
    assert settings.max_payload == 64000
    assert (settings.send_capacity, settings.recv_capacity) == (256, 256)
    assert settings.peers == ()
    assert settings.hello_interval == 1.0


def test_unicast_peers_reach_the_transport():
    config = parse_config({"ip": "10.0.0.1", "udp": {"peers": ["10.0.0.1", "10.0.0.2:7000"]}})
    assert TransportSettings.from_config(config).peers == (UdpEndpoint("10.0.0.1", 9999), UdpEndpoint("10.0.0.2", 7000))


def test_a_payload_limit_beyond_one_udp_datagram_is_refused():
    config = parse_config({"ip": "10.0.0.1"})
    base = TransportSettings.from_config(config)
    with pytest.raises(ValueError, match="exceed one UDP datagram"):
        replace(base, max_payload=65440)
    assert replace(base, max_payload=65439).max_payload == 65439


def test_the_nack_delay_leaves_room_for_three_paced_datagrams():
    base = TransportSettings.from_config(parse_config({"ip": "10.0.0.1"}))
    assert base.effective_nack_delay == base.nack_delay  # 256 MiB/s: a datagram takes 0.2ms
    slow = replace(base, pacing_rate=1_000_000)
    assert slow.effective_nack_delay == pytest.approx(3 * 64068 / 1_000_000)
    unlimited = replace(base, pacing_rate=0)
    assert unlimited.effective_nack_delay == base.nack_delay
