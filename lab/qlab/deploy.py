"""Runs the collection's playbooks (site.yml and the others) against a lab's inventory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .podman import LabError, podman_env
from .topology import REPO, Lab


def ansible_env() -> dict[str, str]:
    env = podman_env()
    env.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    # The venv's tools first, whoever calls us.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_site(lab: Lab, extra_args: list[str] | None = None) -> None:
    run_playbook(lab, "site.yml", extra_args)


def run_playbook(lab: Lab, playbook: str, extra_args: list[str] | None = None) -> None:
    """A playbook of the checkout (a path relative to it) against the lab's inventory."""
    if not lab.inventory_path.exists():
        raise LabError(f"lab {lab.name} has no inventory yet; run `qlab up` first")
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    argv = [str(ansible_playbook), "-i", str(lab.inventory_path), str(REPO / playbook), *(extra_args or [])]
    proc = subprocess.run(argv, cwd=REPO, env=ansible_env(), check=False)
    if proc.returncode != 0:
        raise LabError(f"{playbook} failed on lab {lab.name} (exit {proc.returncode}); the output above says where")
