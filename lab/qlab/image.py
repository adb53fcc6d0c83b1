"""Builds the lab's Debian 12 image with systemd locally: no registry is reachable from here.

debootstrap writes a minimal root filesystem from the machine's own Debian mirror, and
`podman import` turns it into an image whose command is /sbin/init.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .podman import LabError, exists, podman, podman_env
from .topology import ADMIN_USER

# Bump the tag when the package list or the tweaks below change, so hosts get the new image.
IMAGE = "localhost/qlab-debian12:7"
SUITE = "bookworm"
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "python3", "python3-apt", "sudo", "iproute2", "procps",
    "iputils-ping", "ca-certificates", "openssh-server",
]
# Units that only make noise or wait for hardware a container does not have.
MASKED_UNITS = ["getty@tty1.service", "console-getty.service", "systemd-udevd.service",
                "systemd-udev-trigger.service", "apt-daily.timer", "apt-daily-upgrade.timer",
                "e2scrub_reap.service", "systemd-logind.service"]


def debian_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt already uses (deb822 .sources or one-line format)."""
    candidates: list[str] = []
    for path in sorted(sources_dir.glob("sources.list.d/*.sources")):
        text = path.read_text(errors="replace")
        for block in text.split("\n\n"):
            if re.search(rf"^Suites:.*\b{SUITE}\b", block, re.M) and "security" not in block:
                m = re.search(r"^URIs:\s*(\S+)", block, re.M)
                if m:
                    candidates.append(m.group(1))
    for path in [sources_dir / "sources.list", *sorted(sources_dir.glob("sources.list.d/*.list"))]:
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                m = re.match(rf"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{SUITE}\s", line)
                if m and "security" not in m.group(1):
                    candidates.append(m.group(1))
    if not candidates:
        raise LabError(f"no Debian {SUITE} mirror found in /etc/apt; the lab image is built from it")
    return candidates[0]


def image_exists() -> bool:
    return exists("image", IMAGE)


def build_image(log=print) -> None:
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap is not installed; run `make lab` as root to install it")
    mirror = debian_mirror()
    with tempfile.TemporaryDirectory(prefix="qlab-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        log(f"qlab: building {IMAGE} with debootstrap (about a minute)")
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
             str(rootfs), mirror],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if proc.returncode != 0:
            tail = proc.stdout.strip().splitlines()[-1:] or ["no output"]
            raise LabError(f"debootstrap from {mirror} failed: {tail[0]}")
        _tweak_rootfs(rootfs)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        imp = subprocess.run(
            ["podman", "import", "--change", 'CMD ["/sbin/init"]',
             "--change", "STOPSIGNAL SIGRTMIN+3", "-", IMAGE],
            stdin=tar.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False,
            env=podman_env())
        tar.stdout.close()
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise LabError(f"podman import of the lab image failed: {imp.stderr.strip()[-200:]}")


def _tweak_rootfs(rootfs: Path) -> None:
    # Smaller, faster package installs inside the hosts.
    (rootfs / "etc/apt/apt.conf.d/90qlab").write_text(
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n')
    # An empty machine-id makes systemd generate a fresh one per container.
    (rootfs / "etc/machine-id").write_text("")
    for unit in MASKED_UNITS:
        link = rootfs / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    # Journal on disk (a volume per host, lifecycle.up) and bounded: it outlives a host's kill or
    # restart, which a chaos run's post-mortem needs (a volatile one lost the logs that mattered).
    # Every kill leaves two 8 MB files (system and user, found unclean at the next boot): 64M held
    # only the last ~5 minutes of a 200-fault run; 1G holds about 60 kills.
    jconf = rootfs / "etc/systemd/journald.conf.d"
    jconf.mkdir(parents=True, exist_ok=True)
    (jconf / "qlab.conf").write_text("[Journal]\nStorage=persistent\nSystemMaxUse=1G\n")
    _admin_login(rootfs)


def _admin_login(rootfs: Path) -> None:
    """The hosts are reached as servers are: SSH as a login user with sudo (the playbooks say
    `become: true`), by key only. qlab puts the operator's public key in at `qlab up`."""
    subprocess.run(["chroot", str(rootfs), "useradd", "--create-home", "--shell", "/bin/bash", ADMIN_USER],
                   check=True)
    sudoers = rootfs / "etc/sudoers.d" / ADMIN_USER
    sudoers.write_text(f"{ADMIN_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)
    sshd = rootfs / "etc/ssh/sshd_config.d/qlab.conf"
    sshd.write_text("PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\n"
                    "UseDNS no\n")
    # The package made host keys in the build; each host makes its own at its first boot instead,
    # as a cloud image does (every container would otherwise share one key).
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    dropin = rootfs / "etc/systemd/system/ssh.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "qlab-host-keys.conf").write_text(
        "[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n")


def remove_image() -> None:
    if image_exists():
        podman("rmi", "-f", IMAGE)
