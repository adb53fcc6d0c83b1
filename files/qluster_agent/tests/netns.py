"""Network namespaces for real-socket tests: several "hosts" on one private LAN, in one process.

Layout of one lab (nothing is created in the machine's own network namespace):

    namespace <run>-sw:   bridge br0  (br1, br2... appear when split() needs them)
                          |-- v1 ----- eth0 in namespace <run>-<host 1>   10.77.200.11/24
                          |-- v2 ----- eth0 in namespace <run>-<host 2>   10.77.200.12/24
                          ...

Addresses come from 10.77.200.0/24 only. Every lab lives in its own switch namespace, so two labs
(two test runs, two engineers) never see each other's packets even with equal addresses.
There is no multicast route on purpose: like the seed's networks, sockets must name their
interface (IP_MULTICAST_IF / joining on the interface address), which is what the agent does.

Use in a test (``netlab`` is a pytest fixture; import it into your conftest.py or test module):

    from tests.netns import netlab  # noqa: F401  (the fixture)

    def test_two_hosts(netlab):
        a, b = netlab.add_hosts("a", "b")
        with netlab.inside(a):            # sockets created here belong to host a
            sender = socket.socket(...)
        value = netlab.call_inside(b, make_transport, settings)   # same, as a call
        netlab.python(b, "print('hello from b')")                   # a subprocess in b
        proc = netlab.popen(b, [sys.executable, "-m", "qluster_agent", ...])
        netlab.isolate(a)                 # a's packets vanish silently (cable pulled)
        netlab.split([a], [b, c])         # two groups that see only themselves
        netlab.heal()                     # everyone back on one bridge

For a lab shared by several tests, build one in your own fixture:

    @pytest.fixture(scope="module")
    def lab():
        if (reason := unavailable_reason()) is not None:
            pytest.skip(reason)
        with NetLab() as lab:
            yield lab

Sockets keep the namespace they were created in, so objects built inside ``inside(host)`` (a
Transport and its threads) work from any thread afterwards; only creation must happen inside.

Cleanup is guaranteed three ways: the fixture closes the lab after the test; an atexit hook
closes labs left open; and every new lab first deletes namespaces of earlier runs whose process
is gone (names carry the pid), so even a SIGKILLed run leaves nothing behind for long.
Without root or iproute2 the fixture skips the test and says why.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

SUBNET = "10.77.200"  # /24; never any other address
FIRST_HOST_OCTET = 11
MAX_HOSTS = 200
_NAME_PREFIX = "qlt"
_STALE = re.compile(rf"^{_NAME_PREFIX}(\d+)-")
_CLONE_NEWNET = 0x40000000
_lab_numbers = itertools.count(1)
_open_labs: list["NetLab"] = []

T = TypeVar("T")


@dataclass(frozen=True)
class Host:
    name: str  # the short name given to add_host
    netns: str  # the namespace, for `ip netns exec`
    ip: str  # its address on the lab LAN
    interface: str  # its interface inside the namespace ("eth0")
    switch_port: str  # its veth end in the switch namespace


@functools.cache
def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None or shutil.which("bridge") is None:
        return "iproute2 (the `ip` and `bridge` commands) is not installed"
    probe = f"{_NAME_PREFIX}{os.getpid()}-probe"
    created = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if created.returncode != 0:
        return f"`ip netns add` failed: {created.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _delete_stale_namespaces() -> None:
    """Remove namespaces of earlier test runs whose process no longer exists."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        match = _STALE.match(name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


class NetLab:
    """A private LAN of network namespaces; close() (or the fixture) removes all of it."""

    def __init__(self) -> None:
        _delete_stale_namespaces()
        self.run_id = f"{_NAME_PREFIX}{os.getpid()}-{next(_lab_numbers)}"
        self.switch = f"{self.run_id}-sw"
        self.hosts: list[Host] = []
        self._namespaces: list[str] = []
        self._bridges: set[str] = set()
        _open_labs.append(self)
        try:
            self._add_namespace(self.switch)
            self._add_bridge("br0")
        except BaseException:
            self.close()
            raise

    def _add_bridge(self, name: str) -> None:
        # Without IGMP snooping the bridge floods multicast like a plain switch. With it, a host
        # whose join report reaches the bridge a moment after the first datagrams (a loaded CI
        # machine) would miss them, and tests would depend on that race.
        _ip("-n", self.switch, "link", "add", "name", name, "type", "bridge", "mcast_snooping", "0")
        _ip("-n", self.switch, "link", "set", name, "up")
        self._bridges.add(name)

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self._namespaces.append(name)  # recorded at once, so close() removes it whatever follows
        _ip("-n", name, "link", "set", "lo", "up")

    # ---- building ------------------------------------------------------------------------

    def add_host(self, name: str) -> Host:
        """A new namespace with eth0 on the lab bridge and the next free 10.77.200.x/24,
        returned once its port forwards."""
        host = self._create_host(name)
        self._wait_until_forwarding([host])
        return host

    def add_hosts(self, *names: str) -> list[Host]:
        hosts = [self._create_host(name) for name in names]
        self._wait_until_forwarding(hosts)
        return hosts

    def _create_host(self, name: str) -> Host:
        index = len(self.hosts) + 1
        if index > MAX_HOSTS:
            raise ValueError(f"a lab holds at most {MAX_HOSTS} hosts")
        if not re.fullmatch(r"[a-z0-9]{1,20}", name) or any(h.name == name for h in self.hosts):
            raise ValueError(f"host name {name!r} must be short, lowercase, unique")
        host = Host(name, f"{self.run_id}-{name}", f"{SUBNET}.{FIRST_HOST_OCTET + index - 1}",
                    "eth0", f"v{index}")
        self._add_namespace(host.netns)
        _ip("-n", self.switch, "link", "add", "name", host.switch_port, "type", "veth",
            "peer", "name", host.interface, "netns", host.netns)
        _ip("-n", self.switch, "link", "set", host.switch_port, "master", "br0", "up")
        _ip("-n", host.netns, "addr", "add", f"{host.ip}/24", "dev", host.interface)
        _ip("-n", host.netns, "link", "set", host.interface, "up")
        self.hosts.append(host)
        return host

    def _wait_until_forwarding(self, hosts: Sequence[Host], timeout: float = 10.0) -> None:
        """Wait until each host's bridge port forwards. The kernel turns a new port on through
        its link-watch work, which runs at most once a second for the whole machine: right after
        creating interfaces (or while another test run creates them) the first packets of a new
        host would otherwise vanish."""
        ports = {host.switch_port for host in hosts}
        deadline = time.monotonic() + timeout
        while True:
            listing = subprocess.run(["bridge", "-n", self.switch, "-j", "link", "show"],
                                     capture_output=True, text=True, check=True).stdout
            forwarding = {port["ifname"] for port in json.loads(listing or "[]")
                          if port.get("state") == "forwarding" and "LOWER_UP" in port.get("flags", [])}
            if ports <= forwarding:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"bridge ports {sorted(ports - forwarding)} not forwarding after {timeout}s")
            time.sleep(0.01)

    # ---- running things inside a host ----------------------------------------------------------

    @contextlib.contextmanager
    def inside(self, host: Host) -> Iterator[None]:
        """Run the block with this thread in the host's network namespace (sockets created
        here stay there); the thread returns to its own namespace afterwards, even on error."""
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{host.netns}", os.O_RDONLY)
        try:
            if libc.setns(target, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {host.netns} failed")
            try:
                yield
            finally:
                if libc.setns(own, _CLONE_NEWNET) != 0:  # pragma: no cover - would be fatal
                    raise OSError(ctypes.get_errno(), "cannot return to the original namespace")
        finally:
            os.close(target)
            os.close(own)

    def call_inside(self, host: Host, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self.inside(host):
            return function(*args, **kwargs)

    def command(self, host: Host, argv: Sequence[str]) -> list[str]:
        """argv prefixed to run inside the host: ``ip netns exec NAME ...``."""
        return ["ip", "netns", "exec", host.netns, *argv]

    def run(self, host: Host, argv: Sequence[str], timeout: float = 30, check: bool = True,
            **kwargs: Any) -> subprocess.CompletedProcess:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.command(host, argv), timeout=timeout, check=check, **kwargs)

    def popen(self, host: Host, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """A long-running process inside the host; the caller terminates and waits for it."""
        return subprocess.Popen(self.command(host, argv), **kwargs)

    def python(self, host: Host, code: str, *args: str, timeout: float = 30,
               check: bool = True) -> subprocess.CompletedProcess:
        """Run ``python -c code args...`` (this interpreter, so the venv) inside the host."""
        return self.run(host, [sys.executable, "-c", code, *args], timeout=timeout, check=check)

    # ---- faults --------------------------------------------------------------------------------

    def isolate(self, host: Host) -> None:
        """Unplug the host from every bridge: its packets vanish silently, in both directions."""
        _ip("-n", self.switch, "link", "set", host.switch_port, "nomaster")

    def split(self, *groups: Sequence[Host]) -> None:
        """Partition the LAN: each group gets its own bridge and sees only itself. Hosts not
        named stay where they are."""
        for number, group in enumerate(groups):
            bridge = f"br{number}"
            if bridge not in self._bridges:
                self._add_bridge(bridge)
            for host in group:
                _ip("-n", self.switch, "link", "set", host.switch_port, "master", bridge)
        self._wait_until_forwarding([host for group in groups for host in group])

    def heal(self) -> None:
        """Every host back on br0, reachable at once."""
        for host in self.hosts:
            _ip("-n", self.switch, "link", "set", host.switch_port, "master", "br0")
        self._wait_until_forwarding(self.hosts)
        # An ARP lookup that failed during the partition is retried only about a second later;
        # forgetting it makes the first packet after the heal ask again immediately.
        for host in self.hosts:
            _ip("-n", host.netns, "neigh", "flush", "all")

    # ---- cleanup -------------------------------------------------------------------------------

    def close(self) -> None:
        """Delete every namespace of the lab (their interfaces go with them). Idempotent."""
        while self._namespaces:
            subprocess.run(["ip", "netns", "del", self._namespaces.pop()], capture_output=True, check=False)
        if self in _open_labs:
            _open_labs.remove(self)

    def __enter__(self) -> "NetLab":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@atexit.register
def _close_open_labs() -> None:
    for lab in list(_open_labs):
        lab.close()


@pytest.fixture
def netlab() -> Iterator[NetLab]:
    """A fresh NetLab per test; skips the test when namespaces are unavailable."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"real-network test skipped: {reason}")
    lab = NetLab()
    try:
        yield lab
    finally:
        lab.close()
