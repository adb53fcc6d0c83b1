"""Bringing a lab's hosts up and tearing everything it created down again."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from .image import IMAGE, build_image, image_exists
from .podman import LabError, exists, podman
from .topology import (ADMIN_USER, APP_DATABASE, APP_PASSWORD, APP_USER, LABEL, MAX_NODES, POOLER2_HOST, PROMETHEUS_PORT,
                       READER_PASSWORD, READER_USER, STATS_PASSWORD, STATS_USER, Lab)

BOOT_DEADLINE_S = 60


def up(lab: Lab, log=print) -> None:
    """Idempotent: what already exists is kept, what is missing is created, stopped hosts start.

    The lab gets `lab.nodes` database nodes: growing it (3 -> 5) adds bare hosts beside the
    running ones; shrinking it removes the hosts beyond the count (remove them from the cluster
    first: playbooks/remove_node.yml). Likewise with `lab.poolers` pooler hosts: a second one
    (qluster-qcp2) is added or removed, and with two the pooler hosts may hold the VIP."""
    if not image_exists():
        build_image(log)
    ensure_ssh_key(lab)
    if not exists("network", lab.network):
        podman("network", "create", "--label", f"{LABEL}={lab.name}", "--subnet", lab.subnet,
               lab.network)
    if not exists("volume", lab.archive_volume):
        podman("volume", "create", "--label", f"{LABEL}={lab.name}", lab.archive_volume)
    check_vip_capabilities(lab)
    for host in lab.hosts:
        name = lab.container(host.hostname)
        journal = lab.journal_volume(host.hostname)
        if not exists("volume", journal):
            podman("volume", "create", "--label", f"{LABEL}={lab.name}", journal)
        if not exists("container", name):
            forget_host_key(lab, lab.static_address(host.hostname))
            argv = ["run", "-d", "--name", name, "--hostname", host.hostname,
                    "--network", lab.network, "--ip", lab.static_address(host.hostname),
                    "--systemd=always", "--label", f"{LABEL}={lab.name}",
                    *(["-v", f"{lab.archive_volume}:{host.wal_path}"] if host.wal_path else []),
                    "-v", f"{journal}:/var/log/journal",
                    # systemd sandboxes units (ProtectSystem=, PrivateTmp=) with mount namespaces;
                    # without CAP_SYS_ADMIN it assumes a container and silently runs them
                    # unsandboxed, so a path a unit needs but does not list would go unnoticed.
                    "--cap-add", "SYS_ADMIN"]
            if "qhb_nodes" in host.groups:
                # As on a real server, the agent's unit raises its CPU priority above its
                # database's (Nice=): podman drops CAP_SYS_NICE unless asked.
                argv += ["--cap-add", "SYS_NICE"]
                # The host firewall of qhb_node_firewall (nftables) in the host's own network.
                argv += ["--cap-add", "NET_ADMIN"]
            if "nfs_servers" in host.groups:
                # nfs-ganesha (userspace NFS: this kernel has none) needs to open files by handle.
                argv += ["--cap-add", "DAC_READ_SEARCH"]
            argv += vip_capabilities(lab, host)
            podman(*argv, IMAGE)
        elif not is_running(name):
            podman("start", name)
    for host in lab.hosts:
        wait_booted(lab.container(host.hostname))
        authorize_operator(lab, lab.container(host.hostname))
    remove_extra_nodes(lab)
    remove_extra_pooler(lab)
    pin_bridge_address(lab)
    lab.state_dir.mkdir(parents=True, exist_ok=True)
    lab.nodes_file.write_text(f"{lab.nodes}\n")
    lab.poolers_file.write_text(f"{lab.poolers}\n")
    write_inventory(lab)


# keepalived (the VIP of two pooler hosts) adds the address (NET_ADMIN) and sends VRRP and
# gratuitous ARP through raw sockets (NET_RAW), which podman drops unless asked.
VIP_CAPABILITIES = ("NET_ADMIN", "NET_RAW")


def vip_capabilities(lab: Lab, host) -> list[str]:
    """The --cap-add arguments of a pooler host in a lab with a VIP (none in a one-pooler lab,
    whose hosts stay as they were)."""
    if lab.poolers < 2 or "qcp_hosts" not in host.groups:
        return []
    return [arg for cap in VIP_CAPABILITIES for arg in ("--cap-add", cap)]


def check_vip_capabilities(lab: Lab) -> None:
    """A pooler host made for a one-pooler lab lacks keepalived's capabilities, which a running
    container cannot gain: say so before adding a second pooler host beside it."""
    if lab.poolers < 2:
        return
    for host in lab.hosts:
        name = lab.container(host.hostname)
        if "qcp_hosts" not in host.groups or not exists("container", name):
            continue
        data = json.loads(podman("inspect", name).stdout)[0]
        if "EffectiveCaps" not in data:
            continue  # a podman that does not say: keepalived's own errors will
        caps = set(data.get("EffectiveCaps") or []) | set((data.get("HostConfig") or {}).get("CapAdd") or [])
        missing = [cap for cap in VIP_CAPABILITIES if f"CAP_{cap}" not in caps and cap not in caps]
        if missing:
            raise LabError(f"{name} was made without {', '.join(missing)}, which keepalived needs for the VIP of "
                           f"two pooler hosts: `qlab --lab {lab.name} down`, then `qlab --lab {lab.name} up --poolers 2`")


def remove_extra_pooler(lab: Lab) -> None:
    """The second pooler host, with its journal, when the lab has one pooler host."""
    if lab.poolers > 1:
        return
    if exists("container", lab.container(POOLER2_HOST)):
        podman("rm", "-f", "-t", "0", lab.container(POOLER2_HOST))
    if exists("volume", lab.journal_volume(POOLER2_HOST)):
        podman("volume", "rm", "-f", lab.journal_volume(POOLER2_HOST))
    forget_host_key(lab, lab.static_address(POOLER2_HOST))


def vip_holder(lab: Lab) -> str | None:
    """The pooler host whose interface holds the lab's VIP now (None: none, or no VIP)."""
    if not lab.vip:
        return None
    for hostname in lab.pooler_hostnames:
        name = lab.container(hostname)
        if not is_running(name):
            continue
        proc = podman("exec", name, "ip", "-o", "-4", "addr", "show", check=False, timeout=30)
        if proc.returncode == 0 and f" {lab.vip}/" in proc.stdout:
            return hostname
    return None


def remove_extra_nodes(lab: Lab) -> None:
    """The database hosts numbered beyond the lab's count, with their journals."""
    keep = set(lab.db_hostnames)
    for number in range(1, MAX_NODES + 1):
        hostname = f"qluster-{number:02d}"
        if hostname in keep:
            continue
        if exists("container", lab.container(hostname)):
            podman("rm", "-f", "-t", "0", lab.container(hostname))
        if exists("volume", lab.journal_volume(hostname)):
            podman("volume", "rm", "-f", lab.journal_volume(hostname))
        forget_host_key(lab, lab.static_address(hostname))


def ensure_ssh_key(lab: Lab) -> None:
    """The operator's key pair for this lab (no passphrase: the lab is a test bed)."""
    lab.ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not lab.ssh_key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"operator@{lab.name}",
                        "-f", str(lab.ssh_key)], check=True)


def forget_host_key(lab: Lab, host_address: str) -> None:
    """A new host at an old address has a new host key: the old one would refuse it."""
    if lab.known_hosts.exists():
        subprocess.run(["ssh-keygen", "-R", host_address, "-f", str(lab.known_hosts)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def authorize_operator(lab: Lab, container: str) -> None:
    """Puts the operator's public key into the login user's authorized_keys (as a provider's
    first-boot setup does), and waits until sshd answers."""
    public = lab.ssh_key.with_suffix(".pub").read_text()
    home = f"/home/{ADMIN_USER}"
    podman("exec", "-i", container, "sh", "-c",
           f"install -d -m 0700 -o {ADMIN_USER} -g {ADMIN_USER} {home}/.ssh"
           f" && cat > {home}/.ssh/authorized_keys && chown {ADMIN_USER}: {home}/.ssh/authorized_keys"
           f" && chmod 0600 {home}/.ssh/authorized_keys", input=public)
    deadline = time.monotonic() + BOOT_DEADLINE_S
    while podman("exec", container, "systemctl", "is-active", "ssh", check=False).stdout.strip() != "active":
        if time.monotonic() > deadline:
            raise LabError(f"sshd in {container} did not start within {BOOT_DEADLINE_S} s "
                           f"(`qlab journal -u ssh HOST` says why)")
        time.sleep(0.2)


def down(lab: Lab) -> list[str]:
    """Removes every container, network and volume labelled with this lab, and its state files."""
    removed = []
    flt = f"label={LABEL}={lab.name}"
    for cid in podman("ps", "-aq", "--filter", flt).stdout.split():
        podman("rm", "-f", "-t", "0", cid)
        removed.append(f"container {cid[:12]}")
    for vol in podman("volume", "ls", "-q", "--filter", flt).stdout.split():
        podman("volume", "rm", "-f", vol)
        removed.append(f"volume {vol}")
    for net in podman("network", "ls", "-q", "--filter", flt).stdout.split():
        podman("network", "rm", "-f", net)
        removed.append(f"network {net}")
    if lab.state_dir.exists():
        shutil.rmtree(lab.state_dir)
        removed.append(f"files {lab.state_dir}")
    return removed


def is_running(container: str) -> bool:
    proc = podman("inspect", "--format", "{{.State.Running}}", container, check=False)
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def wait_booted(container: str, deadline_s: float = BOOT_DEADLINE_S) -> str:
    """Polls until systemd in the container has finished booting (running or degraded)."""
    deadline = time.monotonic() + deadline_s
    state = "unknown"
    while time.monotonic() < deadline:
        proc = podman("exec", container, "systemctl", "is-system-running", check=False)
        state = proc.stdout.strip() or "unknown"
        if state in ("running", "degraded"):
            return state
        time.sleep(0.2)
    raise LabError(f"host {container} did not finish booting within {deadline_s:.0f} s (systemd says {state})")


def bridge(lab: Lab) -> str:
    """The name of the Linux bridge behind the lab's network on this machine."""
    return podman("network", "inspect", "--format", "{{.NetworkInterface}}", lab.network).stdout.strip()


# /sys/class/net/<dev>/addr_assign_type: 3 is NET_ADDR_SET, an address someone set by hand.
ADDRESS_SET_BY_HAND = "3"


def pin_bridge_address(lab: Lab) -> None:
    """Keeps the bridge's MAC address from changing while hosts come and go.

    A Linux bridge whose address was never set takes the lowest address of its ports. When the
    host whose veth holds it is killed (or partitioned: `nomaster`), the bridge's address changes,
    and every other host keeps sending packets meant for this machine (the bridge's IP address) to
    the old address until its ARP entry expires, up to a minute: a client on this machine talking
    to a lab host sees its connection hang while host-to-host traffic flows. Machines on a real
    network have no such thing. Setting the address once, to the one it has, keeps it for the
    bridge's life; netavark creates the bridge again when a host starts after all had stopped, so
    this runs after every start.
    """
    name = bridge(lab)
    device = Path("/sys/class/net", name)
    if not name or not device.exists():
        return
    if (device / "addr_assign_type").read_text().strip() == ADDRESS_SET_BY_HAND:
        return
    current = (device / "address").read_text().strip()
    subprocess.run(["ip", "link", "set", "dev", name, "address", current], check=True)


def address(lab: Lab, hostname: str) -> str:
    data = json.loads(podman("inspect", lab.container(hostname)).stdout)[0]
    nets = data["NetworkSettings"]["Networks"]
    return nets[lab.network]["IPAddress"]


def write_inventory(lab: Lab) -> None:
    groups: dict[str, dict] = {}
    for host in lab.hosts:
        for group in host.groups:
            groups.setdefault(group, {"hosts": {}})["hosts"][host.hostname] = {
                "ansible_host": lab.static_address(host.hostname),
            }
    inventory = {"all": {
        "vars": {
            # As a user reaches servers: SSH as a login user with sudo (the plays say become).
            "ansible_user": ADMIN_USER,
            "ansible_ssh_private_key_file": str(lab.ssh_key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={lab.known_hosts} -o StrictHostKeyChecking=accept-new",
            "ansible_python_interpreter": "/usr/bin/python3",
            # The lab kernel has no NFS: the archive is a volume shared by the hosts (LAB-NOTES).
            "qhb_wal_archive_mode": "shared_volume",
            "nfs_server_implementation": "ganesha",
            "qhb_node_users": [
                {"name": APP_USER, "password": APP_PASSWORD},
                {"name": READER_USER, "password": READER_PASSWORD, "conn_limit": 10, "privileges": [
                    {"database": APP_DATABASE, "type": "database", "privs": "CONNECT"},
                    {"database": APP_DATABASE, "type": "schema", "objs": "public", "privs": "USAGE"},
                    {"database": APP_DATABASE, "type": "table", "objs": "ALL_IN_SCHEMA", "schema": "public",
                     "privs": "SELECT"},
                    {"database": APP_DATABASE, "type": "default_privs", "objs": "TABLES", "schema": "public",
                     "privs": "SELECT", "target_roles": [APP_USER]},
                ]},
            ],
            "qhb_node_databases": [{"name": "qhb"}, {"name": APP_DATABASE, "owner": APP_USER}],
            "qcp_host_transaction_databases": ["postgres", "qhb", APP_DATABASE],
            "qcp_host_stats_user": STATS_USER,
            "qcp_host_stats_password": STATS_PASSWORD,
            "qcp_host_haproxy_prometheus_port": PROMETHEUS_PORT,
            # The cluster's ports from its own hosts only; this machine (the operator's, on the
            # lab's network) may read the API, and is the LAN attacker of the junk-flood test.
            "qhb_node_firewall": True,
            "qhb_node_firewall_api_sources": [lab.gateway_address],
        },
        "children": groups,
    }}
    if lab.vip:
        # Two pooler hosts share the VIP (roles/qcp_host qcp_host_vip): applications connect there.
        prefix = ipaddress.ip_network(lab.subnet).prefixlen
        groups["qcp_hosts"]["vars"] = {"qcp_host_vip": f"{lab.vip}/{prefix}"}
    lab.state_dir.mkdir(parents=True, exist_ok=True)
    lab.inventory_path.write_text(
        "# Written by `qlab up`; removed by `qlab down`.\n" + yaml.safe_dump(inventory, sort_keys=False))


def status(lab: Lab) -> list[dict]:
    rows = []
    for host in lab.hosts:
        name = lab.container(host.hostname)
        if not exists("container", name):
            rows.append({"host": host.hostname, "container": name, "state": "absent"})
            continue
        running = is_running(name)
        rows.append({
            "host": host.hostname, "container": name,
            "state": "running" if running else "stopped",
            "address": address(lab, host.hostname) if running else "",
            "groups": ",".join(host.groups),
        })
    return rows
