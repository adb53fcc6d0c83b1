"""The one place that runs podman: every lab action goes through `podman()`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CONTAINERS_CONF = Path(__file__).resolve().parent.parent / "containers.conf"


class LabError(RuntimeError):
    """A failure an operator can act on; its message is one sentence."""


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    # Our runtime settings (runc, lowered rlimits) without touching /etc/containers.
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def podman(*args: str, check: bool = True, timeout: float = 600, input: str | None = None,
           capture: bool = True) -> subprocess.CompletedProcess:
    argv = ["podman", *args]
    try:
        proc = subprocess.run(argv, env=podman_env(), text=True, timeout=timeout, input=input,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None, check=False)
    except FileNotFoundError:
        raise LabError("podman is not installed; run `make lab` as root to install it") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s") from None
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(argv[:4])}` failed: {failure_detail(proc)}")
    return proc


def failure_detail(proc: subprocess.CompletedProcess) -> str:
    """The lines of podman's stderr that say why, in one line: podman's own last line names
    only the runtime's exit status, the runtime's reason (runc's `msg="unable to freeze"`) is
    on the lines before it."""
    lines = [line.strip() for line in (proc.stderr or "").splitlines() if line.strip()]
    return " / ".join(lines[-3:]) if lines else f"exit {proc.returncode}"


def exists(kind: str, name: str) -> bool:
    """kind is one of container, network, volume, image."""
    return podman(kind, "exists", name, check=False).returncode == 0
