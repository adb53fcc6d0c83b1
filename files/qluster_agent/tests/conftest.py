"""Fixtures shared by several test directories."""

from __future__ import annotations

import pytest

from .pki import Pki, make_pki, openssl_works


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    """A throwaway CA with node and client certificates (tests/pki.py), made once per run."""
    if not openssl_works():
        pytest.skip("needs the openssl command to make certificates")
    return make_pki(tmp_path_factory.mktemp("pki"))
