"""The data directory's state as the agent reads it from outside the server."""

from __future__ import annotations

from qluster_agent.pg.datadir import datadir_state, forget_unfinished_rewind, rewind_marker
from qluster_agent.pg.status import DataDirState


def a_database(tmp_path):
    datadir = tmp_path / "data"
    (datadir / "global").mkdir(parents=True)
    (datadir / "PG_VERSION").write_text("15\n")
    (datadir / "global" / "pg_control").write_bytes(b"\0" * 8192)
    return datadir


def test_a_data_directory_left_by_an_unfinished_rewind_is_not_usable(tmp_path):
    # pg_rewind failed after copying and deleting files (the chaos run: its source was wiped):
    # pg_control still looks fine, but no server may start on the mixture.
    datadir = a_database(tmp_path)
    assert datadir_state(datadir) is DataDirState.VALID
    rewind_marker(datadir).write_text("pg_rewind from 10.0.0.2:5432\n")
    assert datadir_state(datadir) is DataDirState.INVALID
    forget_unfinished_rewind(datadir)
    assert datadir_state(datadir) is DataDirState.VALID


def test_an_empty_data_directory_is_empty_whatever_a_rewind_left_beside_it(tmp_path):
    datadir = tmp_path / "data"
    datadir.mkdir()
    rewind_marker(datadir).write_text("pg_rewind from 10.0.0.2:5432\n")
    assert datadir_state(datadir) is DataDirState.EMPTY
    assert rewind_marker(datadir).parent == tmp_path  # beside it: pg_rewind deletes what the source lacks
