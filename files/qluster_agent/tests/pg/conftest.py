"""Fixtures for the integration tests: a module-scoped lab of real PostgreSQL 15 instances."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pg_lab_support import PG_BIN, TEMPLATE_CONF, TEMPLATE_HBA, Lab, chown_to_db_user


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if not (PG_BIN / "pg_ctl").exists():
        pytest.skip("PostgreSQL 15 binaries not installed")
    if os.geteuid() != 0:
        pytest.skip("integration tests run PostgreSQL as another user and need root")
    root = Path(tempfile.mkdtemp(prefix="qluster-pg-", dir="/tmp"))
    chown_to_db_user(root)
    archive = root / "wal"
    archive.mkdir(mode=0o750)
    chown_to_db_user(archive)
    instance = Lab(root)
    instance.templates.mkdir()
    (instance.templates / "postgresql.conf").write_text(TEMPLATE_CONF)
    (instance.templates / "pg_hba.conf").write_text(TEMPLATE_HBA)
    try:
        yield instance
    finally:
        instance.stop_all()
        if not os.environ.get("QLUSTER_KEEP_LAB"):  # keep it to read the servers' logs
            shutil.rmtree(root, ignore_errors=True)
