"""The socket is opened as the udp.socket settings say."""

import socket

import pytest

from qluster_agent.config import UdpEndpoint
from qluster_agent.transport import TransportError, interface_address
from qluster_agent.transport.sockets import open_socket

from .helpers import lab_settings


def test_the_interface_name_resolves_to_its_address(netlab):
    (a,) = netlab.add_hosts("a")
    assert netlab.call_inside(a, interface_address, "eth0", "192.0.2.1") == a.ip
    assert interface_address(None, "192.0.2.1") == "192.0.2.1"  # not set: the node's ip
    assert interface_address("192.0.2.7", "192.0.2.1") == "192.0.2.7"  # an address as is
    with pytest.raises(TransportError, match=r"^udp\.socket\.interface: 'ens18': .*no such interface"):
        netlab.call_inside(a, interface_address, "ens18", a.ip)


def test_multicast_socket_options_follow_the_settings(netlab):
    (a,) = netlab.add_hosts("a")
    settings = lab_settings(a, loopback=True, send_buffer_size=65536, recv_buffer_size=131072)
    sock = netlab.call_inside(a, open_socket, settings)
    try:
        assert sock.getsockname() == ("0.0.0.0", 9999)
        multicast_if = sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)
        assert socket.inet_ntoa(multicast_if) == a.ip
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP) == 1
        # Linux doubles the requested size for its bookkeeping.
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * 65536
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 2 * 131072
    finally:
        sock.close()


def test_unicast_mode_binds_the_node_address(netlab):
    (a,) = netlab.add_hosts("a")
    settings = lab_settings(a, peers=(UdpEndpoint(a.ip, 9999), UdpEndpoint("10.77.200.99", 9999)))
    sock = netlab.call_inside(a, open_socket, settings)
    try:
        assert sock.getsockname() == (a.ip, 9999)
    finally:
        sock.close()
