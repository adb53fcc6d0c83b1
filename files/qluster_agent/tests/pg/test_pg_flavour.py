from pathlib import Path

import pytest

from qluster_agent.pg.bindir import BinDirNotFound, find_bin_dir
from qluster_agent.pg.flavour import POSTGRESQL, QHB, FlavourKind, flavour_for


def test_one_setting_selects_every_name() -> None:
    assert flavour_for("qhb") is QHB
    assert flavour_for(FlavourKind.POSTGRESQL) is POSTGRESQL
    assert QHB.config_files == ("qhb.conf", "qhb_hba.conf", "qhb_ident.conf")
    assert POSTGRESQL.config_files == ("postgresql.conf", "pg_hba.conf", "pg_ident.conf")
    assert QHB.binaries.server == "qhb" and POSTGRESQL.binaries.server == "postgres"
    assert QHB.default_database == "qhb"


def test_unknown_flavour_is_rejected() -> None:
    with pytest.raises(ValueError):
        flavour_for("oracle")


def _fake_bin(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "pg_ctl").touch()
    return path


def test_qhb_binaries_live_under_pghome(tmp_path: Path) -> None:
    _fake_bin(tmp_path / "qhb" / "bin")
    assert find_bin_dir(QHB, pghome=tmp_path / "qhb") == tmp_path / "qhb" / "bin"


def test_newest_debian_major_wins(tmp_path: Path) -> None:
    for major in ("9.6", "13", "15"):
        _fake_bin(tmp_path / major / "bin")
    (tmp_path / "16").mkdir()  # a client-only package: no pg_ctl
    assert find_bin_dir(POSTGRESQL, debian_root=tmp_path) == tmp_path / "15" / "bin"


def test_explicit_bin_dir_must_hold_pg_ctl(tmp_path: Path) -> None:
    with pytest.raises(BinDirNotFound):
        find_bin_dir(POSTGRESQL, bin_dir=tmp_path)
    assert find_bin_dir(POSTGRESQL, bin_dir=_fake_bin(tmp_path / "bin")) == tmp_path / "bin"
