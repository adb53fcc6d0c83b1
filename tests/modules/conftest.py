"""Make this checkout importable as ``ansible_collections.qhb.qluster`` for the unit tests, and
the agent's package importable so tests can compare the modules' tables with the agent's own."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_ROOT = Path(tempfile.mkdtemp(prefix="qhb-qluster-modules-"))
(_ROOT / "ansible_collections" / "qhb").mkdir(parents=True)
os.symlink(REPO, _ROOT / "ansible_collections" / "qhb" / "qluster")
sys.path.insert(0, str(_ROOT))
atexit.register(shutil.rmtree, _ROOT, True)  # removes the link, never the checkout
sys.path.insert(0, str(REPO / "files" / "qluster_agent"))
