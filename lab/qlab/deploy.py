"""Runs the collection's site.yml against a lab's inventory."""

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
    if not lab.inventory_path.exists():
        raise LabError(f"lab {lab.name} has no inventory yet; run `qlab up` first")
    playbook = Path(sys.executable).parent / "ansible-playbook"
    argv = [str(playbook), "-i", str(lab.inventory_path), str(REPO / "site.yml"), *(extra_args or [])]
    proc = subprocess.run(argv, cwd=REPO, env=ansible_env(), check=False)
    if proc.returncode != 0:
        raise LabError(f"site.yml failed on lab {lab.name} (exit {proc.returncode}); the output above says where")
