"""Golden transcripts: QRAFT_REWRITE=1 rewrites testdata/*.txt with the actual output."""
from __future__ import annotations

import difflib
import glob
import os

import pytest

from .transcript import run_file

TESTDATA = os.path.join(os.path.dirname(__file__), "testdata")
FILES = sorted(glob.glob(os.path.join(TESTDATA, "*.txt")))


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(p) for p in FILES])
def test_transcript(path: str) -> None:
    actual, original = run_file(path)
    if os.environ.get("QRAFT_REWRITE") == "1":
        with open(path, "w") as f:
            f.write(actual)
        return
    if actual != original:
        diff = "".join(difflib.unified_diff(original.splitlines(True), actual.splitlines(True),
                                            "expected", "actual"))
        pytest.fail(f"{os.path.basename(path)} differs (QRAFT_REWRITE=1 to accept):\n{diff}")
