"""A broken precondition stops `make lab` with one sentence naming it, not a stack trace."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_not_root_is_refused_with_one_sentence():
    # Feed the script on stdin: an unprivileged user may not be able to read the checkout.
    proc = subprocess.run(["runuser", "-u", "nobody", "--", "bash", "-s"],
                          input=(REPO / "scripts/host-deps.sh").read_text(),
                          capture_output=True, text=True, cwd="/", check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "must run as root" in lines[0]


def test_lab_cli_names_an_unknown_host():
    proc = subprocess.run([str(REPO / ".venv/bin/qlab"), "--lab", "qlabt", "fault", "kill", "qluster-09"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "qlab: qluster-09 is not a host of lab qlabt"
    assert "Traceback" not in proc.stderr
