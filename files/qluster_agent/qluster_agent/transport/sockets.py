"""Opening the UDP socket as the `udp.socket` settings say."""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

from .settings import TransportSettings

_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address
_IP_MULTICAST_ALL = 49  # Linux; not exported by the socket module


class TransportError(Exception):
    """The socket could not be set up as configured (the message names the setting)."""


def interface_address(interface: str | None, node_ip: str) -> str:
    """The IPv4 address to send and join the group on: the address of the named interface,
    the address itself when one is given, or the node's `ip` when nothing is."""
    if not interface:
        return node_ip
    try:
        return str(ipaddress.IPv4Address(interface))
    except ValueError:
        pass
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        request = struct.pack("256s", interface.encode()[:15])
        reply = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
    except OSError as error:
        raise TransportError(f"udp.socket.interface: {interface!r}: {error.strerror} "
                             "(no such interface, or it has no IPv4 address)") from None
    finally:
        probe.close()
    return socket.inet_ntoa(reply[20:24])


def open_socket(settings: TransportSettings) -> socket.socket:
    """A bound, blocking UDP socket, joined to the group in multicast mode."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # Several agents of one host may share the port (loopback: true); a restart must not
        # wait for the old socket either.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, settings.send_buffer_size)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, settings.recv_buffer_size)
        if settings.peers:
            _bind(sock, settings.ip, settings.group.port)
        else:
            _join_group(sock, settings)
    except BaseException:
        sock.close()
        raise
    return sock


def _bind(sock: socket.socket, host: str, port: int) -> None:
    try:
        sock.bind((host, port))
    except OSError as error:
        raise TransportError(f"cannot bind UDP {host or '*'}:{port}: {error.strerror}") from None


def _join_group(sock: socket.socket, settings: TransportSettings) -> None:
    local = interface_address(settings.interface, settings.ip)
    group = settings.group
    # Bound to the wildcard, not the group: NACK answers and addressed messages arrive unicast.
    _bind(sock, "", group.port)
    # Without this Linux also delivers datagrams of every other group any socket of this host
    # joined on the same port.
    sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
    # Naming the interface for sending and joining makes multicast work without a route
    # (LAB-NOTES: otherwise ENETUNREACH on networks with no 224.0.0.0/4 route).
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(settings.loopback))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)  # one LAN, never routed
    membership = socket.inet_aton(group.host) + socket.inet_aton(local)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    except OSError as error:
        raise TransportError(f"udp.socket.group: cannot join {group} on {local}: {error.strerror}") from None
