"""Where the CPU time of a measured interval went: per lab host and per CPU, from the kernel's
own counters (no sampling, nothing runs inside the hosts while measuring).

Per host: the container's cgroup counter (cgroup v1 `cpuacct.usage`, v2 `cpu.stat`
`usage_usec`), which covers every process the host runs, including what its systemd started.
Per CPU: /proc/stat's busy time split into user, system and softirq. The network work of the
lab's veth pairs and bridge runs as softirq on whichever CPU sent the packet, and is not always
charged to a host's cgroup, so both views are needed to tell where a transaction's cost lands.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from qlab.faults import Host
from qlab.podman import podman

CGROUP_ROOT = Path("/sys/fs/cgroup")
# /proc/stat's columns after the CPU's name, in USER_HZ ticks.
STAT_COLUMNS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
TICK = 1.0 / os.sysconf("SC_CLK_TCK")


def container_cgroup(host: Host) -> tuple[str, str]:
    """(hierarchy, path) of the host's container cgroup: the first `libpod-*` component of its
    init's cgroup path (systemd inside moves itself into sub-cgroups of it). The v1 cpuacct
    hierarchy when there is one (a hybrid machine also lists an unused v2 one), else v2's."""
    pid = podman("inspect", "--format", "{{.State.Pid}}", host.container).stdout.strip()
    paths = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        controllers, path = line.split(":", 2)[1:]
        paths[controllers] = path
    hierarchy = next((c for c in paths if "cpuacct" in c.split(",")), "")
    parts = paths.get(hierarchy, "").strip("/").split("/")
    for index, part in enumerate(parts):
        if part.startswith("libpod-") and not part.startswith("libpod-conmon"):
            return hierarchy, "/".join(parts[:index + 1])
    raise RuntimeError(f"no CPU accounting cgroup found for {host.hostname} (pid {pid})")


def cgroup_seconds(hierarchy: str, path: str) -> float:
    if hierarchy == "":  # cgroup v2
        for line in (CGROUP_ROOT / path / "cpu.stat").read_text().splitlines():
            key, value = line.split()
            if key == "usage_usec":
                return int(value) / 1e6
        raise RuntimeError(f"{CGROUP_ROOT / path / 'cpu.stat'} has no usage_usec")
    return int((CGROUP_ROOT / hierarchy / path / "cpuacct.usage").read_text()) / 1e9


def cpu_seconds() -> dict[str, dict[str, float]]:
    """Per CPU: seconds spent in each /proc/stat column since boot."""
    cpus = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            cpus[name] = {column: int(value) * TICK for column, value in zip(STAT_COLUMNS, values)}
    return cpus


class CpuAccount:
    """`with CpuAccount(hosts) as account: ...`, then `account.report(transactions)`."""

    def __init__(self, hosts: dict[str, Host]) -> None:
        self.cgroups = {name: container_cgroup(host) for name, host in hosts.items()}
        self.hosts_before: dict[str, float] = {}
        self.hosts_spent: dict[str, float] = {}
        self.cpus_before: dict[str, dict[str, float]] = {}
        self.cpus_spent: dict[str, dict[str, float]] = {}
        self.started = 0.0
        self.elapsed = 0.0

    def _hosts(self) -> dict[str, float]:
        return {name: cgroup_seconds(*cgroup) for name, cgroup in self.cgroups.items()}

    def __enter__(self) -> "CpuAccount":
        self.hosts_before, self.cpus_before, self.started = self._hosts(), cpu_seconds(), time.monotonic()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.elapsed = time.monotonic() - self.started
        hosts_after, cpus_after = self._hosts(), cpu_seconds()
        self.hosts_spent = {name: hosts_after[name] - self.hosts_before[name] for name in hosts_after}
        self.cpus_spent = {cpu: {column: after[column] - self.cpus_before[cpu][column] for column in after}
                           for cpu, after in cpus_after.items()}

    def report(self, transactions: float) -> dict:
        """CPU microseconds per transaction by host and, per CPU, by kind; and each CPU's busy share."""
        per_tx = 1e6 / transactions if transactions else 0.0
        cpus = {}
        for cpu, spent in self.cpus_spent.items():
            total = sum(spent.values()) or 1.0
            cpus[cpu] = {
                "busy_share": round(1 - (spent["idle"] + spent["iowait"]) / total, 3),
                "user_us_per_tx": round((spent["user"] + spent["nice"]) * per_tx, 1),
                "system_us_per_tx": round(spent["system"] * per_tx, 1),
                "softirq_us_per_tx": round((spent["softirq"] + spent["irq"]) * per_tx, 1),
            }
        return {"seconds": round(self.elapsed, 1), "transactions": round(transactions),
                "hosts_us_per_tx": {name: round(spent * per_tx, 1) for name, spent in self.hosts_spent.items()},
                "cpus": cpus}
