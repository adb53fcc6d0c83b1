"""Fault injection into lab hosts, for tests and for people: one `Host` object per lab host.

Each fault is the real thing: `kill` is SIGKILL of the whole container (all its processes die
at once; unlike a power cut, their TCP peers see the connections reset), `pause` freezes it (the kernel still answers ping, nothing else),
`partition` detaches the host's veth from the lab bridge so its packets silently vanish in
both directions, with no error inside the host.
"""

from __future__ import annotations

import subprocess
import time

from .lifecycle import address, bridge, is_running, pin_bridge_address, wait_booted
from .podman import LabError, podman
from .topology import Lab


class Host:
    def __init__(self, lab: Lab, hostname: str) -> None:
        lab.spec(hostname)  # fail early on a host the lab does not have
        self.lab = lab
        self.hostname = hostname
        self.container = lab.container(hostname)

    def __repr__(self) -> str:
        return f"Host({self.hostname})"

    @property
    def address(self) -> str:
        return address(self.lab, self.hostname)

    # --- processes -------------------------------------------------------------------------
    def kill(self) -> None:
        """Hard kill: every process in the host gets SIGKILL, nothing is flushed."""
        podman("kill", "--signal", "KILL", self.container)

    def stop(self) -> None:
        """Clean shutdown through systemd (the image's stop signal)."""
        podman("stop", "-t", "30", self.container)

    def start(self, wait: bool = True) -> None:
        podman("start", self.container)
        pin_bridge_address(self.lab)
        forget_neighbour(self.lab, self.address)
        if wait:
            wait_booted(self.container)

    def pause(self, within: float = 30.0) -> None:
        """Freeze every process in the host.

        The cgroup v1 freezer cannot freeze a process sleeping in uninterruptible I/O; runc then
        gives up with "unable to freeze" and thaws the host back. On a busy machine (a host
        fsyncing while another lab installs packages) that happens about every other try, so
        try again until the host is frozen or `within` seconds have passed.
        """
        deadline = time.monotonic() + within
        while True:
            try:
                podman("pause", self.container)
                return
            except LabError:
                if self.is_paused():
                    return
                if time.monotonic() >= deadline:
                    raise

    def resume(self) -> None:
        podman("unpause", self.container)

    def is_running(self) -> bool:
        return is_running(self.container)

    def is_paused(self) -> bool:
        proc = podman("inspect", "--format", "{{.State.Status}}", self.container, check=False)
        return proc.stdout.strip() == "paused"

    # --- network ---------------------------------------------------------------------------
    def partition(self) -> None:
        """Silently cut the host off the lab network: packets vanish, sockets see no error."""
        subprocess.run(["ip", "link", "set", self.veth(), "nomaster"], check=True)

    def heal(self) -> None:
        subprocess.run(["ip", "link", "set", self.veth(), "master", bridge(self.lab)], check=True)

    def is_partitioned(self) -> bool:
        link = subprocess.run(["ip", "-o", "link", "show", self.veth()],
                              capture_output=True, text=True, check=True).stdout
        return f" master {bridge(self.lab)} " not in link

    def veth(self) -> str:
        """The name of this host's network interface on this machine's side (a port of the bridge)."""
        # The container's eth0 names its peer's interface index on the host side.
        peer_index = self.exec("cat", "/sys/class/net/eth0/iflink").stdout.strip()
        for line in subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                                   check=True).stdout.splitlines():
            index, name = line.split(":")[:2]
            if index.strip() == peer_index:
                return name.strip().split("@")[0]
        raise LabError(f"no host-side network interface found for {self.hostname}")

    # --- inspection ------------------------------------------------------------------------
    def exec(self, *argv: str, check: bool = True, timeout: float = 120,
             user: str | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        args = ["exec", "-i"] if input is not None else ["exec"]
        if user:
            args += ["--user", user]
        return podman(*args, self.container, *argv, check=check, timeout=timeout, input=input)

    def sh(self, script: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return self.exec("sh", "-c", script, check=check, timeout=timeout)

    def stop_service(self, unit: str, timeout: float = 180) -> None:
        """`systemctl stop` without blocking in it, then poll until the unit is down.

        A stop that does not finish raises with the unit's status, its processes and its journal,
        which is what says why; a blocked `podman exec` would only say that it timed out.
        """
        self.exec("systemctl", "stop", "--no-block", unit, timeout=60)

        def down() -> bool:
            state = self.exec("systemctl", "is-active", unit, check=False, timeout=30).stdout.strip()
            return state in ("inactive", "failed")

        try:
            wait_until(down, timeout=timeout, interval=0.5, what=f"{unit} stopped on {self.hostname}")
        except TimeoutError as exc:
            status = self.exec("systemctl", "status", "--no-pager", "-l", unit, check=False, timeout=30).stdout
            processes = self.exec("ps", "-eo", "pid,ppid,stat,etime,args", check=False, timeout=30).stdout
            raise TimeoutError(f"{exc}\n{status}\n{processes}\n{self.journal(unit, lines=80)}") from None

    def journal(self, unit: str | None = None, lines: int = 200, since: str | None = None) -> str:
        argv = ["journalctl", "--no-pager", "-o", "short-iso", "-n", str(lines)]
        if unit:
            argv += ["-u", unit]
        if since:
            argv += ["--since", since]
        return self.exec(*argv).stdout


def forget_neighbour(lab: Lab, address: str) -> None:
    """Drop this machine's ARP entry for a host that came back.

    A restarted container gets a new MAC address for the same IP (a real server keeps its own).
    This machine's entry for the old one stays "reachable" for up to 45 s after recent traffic,
    and everything this machine sends the host meanwhile goes to the dead address: in a
    rehearsal, the listener test right after the chaos run's restart-all could not reach
    qluster-03 for 15 s. Without the entry the next packet asks again.
    """
    subprocess.run(["ip", "neigh", "del", address, "dev", bridge(lab)], capture_output=True, check=False)


def keep_if(value, predicate):
    """value when predicate(value) holds, else None (for wait_until)."""
    return value if predicate(value) else None


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.1f} s")
        time.sleep(interval)


# --- the lab's network as a whole ----------------------------------------------------------------
def multicast_table(lab: Lab) -> str:
    return f"{lab.name}_no_multicast"


def block_multicast(lab: Lab) -> None:
    """The lab's network stops carrying IPv4 multicast, as most clouds' networks do: the bridge
    drops every frame from the lab's subnet to 224.0.0.0/4 (the hosts' own sockets see no error).
    A table of this machine's nftables, matching this lab's subnet alone (this kernel's bridge
    family cannot match the bridge's name, and the hosts' ports change when they restart)."""
    table = multicast_table(lab)
    ruleset = (f"table bridge {table} {{\n"
               f"  chain forward {{\n"
               f"    type filter hook forward priority -10; policy accept;\n"
               f"    ip saddr {lab.subnet} ip daddr 224.0.0.0/4 counter drop\n"
               f"  }}\n}}\n")
    allow_multicast(lab)
    subprocess.run(["nft", "-f", "-"], input=ruleset, text=True, check=True)


def allow_multicast(lab: Lab) -> None:
    subprocess.run(["nft", "delete", "table", "bridge", multicast_table(lab)],
                   capture_output=True, check=False)


def multicast_dropped(lab: Lab) -> int:
    """Multicast packets the block has dropped so far (0 when there is no block)."""
    proc = subprocess.run(["nft", "list", "table", "bridge", multicast_table(lab)],
                          capture_output=True, text=True, check=False)
    counts = [int(word) for line in proc.stdout.splitlines() if "counter packets" in line
              for word in [line.split("counter packets")[1].split()[0]]]
    return sum(counts)
