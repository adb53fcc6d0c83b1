"""The collection builds, and its tarball carries the collection, not the lab or the tests."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_collection_tarball_has_no_test_or_lab_files(tmp_path):
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    subprocess.run([str(galaxy), "collection", "build", "--output-path", str(tmp_path), str(REPO)],
                   check=True, capture_output=True, text=True)
    tarball = tmp_path / "qhb-qluster-0.1.0.tar.gz"
    names = tarfile.open(tarball).getnames()
    assert "meta/runtime.yml" in names
    assert "site.yml" in names
    assert "files/qluster_agent/qluster_agent/__init__.py" in names
    assert "files/qluster_agent/pyproject.toml" in names
    for forbidden in ("lab/", "tests/", "molecule/", "bench/", "files/qluster_agent/tests/",
                      ".venv/", "build/", "scripts/", ".ci/"):
        leaked = [n for n in names if n.startswith(forbidden)]
        assert not leaked, f"{forbidden} leaked into the tarball: {leaked[:3]}"
