"""The namespace helper itself: addresses, subprocesses, partitions, cleanup."""

import ipaddress
import os
import socket
import subprocess

import pytest

from tests.netns import NetLab, unavailable_reason


def udp_reaches(lab: NetLab, source, target, port: int = 7777) -> bool:
    receiver = lab.call_inside(target, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
    sender = lab.call_inside(source, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.bind((target.ip, port))
        receiver.settimeout(0.3)  # bounds the negative answer; a positive one returns at once
        sender.sendto(b"ping", (target.ip, port))
        try:
            return receiver.recvfrom(16)[0] == b"ping"
        except socket.timeout:
            return False
    finally:
        receiver.close()
        sender.close()


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout


def test_hosts_get_lab_addresses_and_run_commands_inside(netlab):
    a, b = netlab.add_hosts("a", "b")
    for host in (a, b):
        assert ipaddress.IPv4Address(host.ip) in ipaddress.IPv4Network("10.77.200.0/24")
    assert a.ip != b.ip
    shown = netlab.run(a, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout
    assert f"inet {a.ip}/24" in shown
    printed = netlab.python(b, "import socket,sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print('bound')", b.ip)
    assert printed.stdout.strip() == "bound"


def test_isolate_split_and_heal(netlab):
    a, b, c = netlab.add_hosts("a", "b", "c")
    assert udp_reaches(netlab, a, c)
    netlab.isolate(c)
    assert not udp_reaches(netlab, a, c) and udp_reaches(netlab, a, b)
    netlab.heal()
    assert udp_reaches(netlab, a, c)
    netlab.split([a, b], [c])
    assert udp_reaches(netlab, a, b) and not udp_reaches(netlab, b, c)
    netlab.heal()
    assert udp_reaches(netlab, b, c)


def test_close_removes_every_namespace_and_stale_ones_are_swept():
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"real-network test skipped: {reason}")
    # Named like a lab of a run long gone (no pid is that large); unique per test process.
    stale = f"qlt999999999-{os.getpid()}-x"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    lab = NetLab()
    assert stale not in namespaces()
    lab.add_hosts("a", "b")
    assert lab.run_id in namespaces()
    lab.close()
    assert lab.run_id not in namespaces()
