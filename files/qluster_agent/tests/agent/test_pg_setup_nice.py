"""postgres.nice: how much nicer than the agent the database runs (0..19, default 10)."""
from __future__ import annotations

from pathlib import Path

import pytest

from qluster_agent.agent.env import AgentEnv
from qluster_agent.agent.pg_setup import PgSetupError, pg_options

ENV = AgentEnv(config_path=Path("/etc/qluster/config.yaml"), pgdata=Path("/qhb/data"), pgport=5432,
               pguser="qhb", pghome=Path("/usr/lib/postgresql/15"), backup_path=None)


def test_the_database_runs_ten_nicer_by_default_and_as_configured():
    assert pg_options({}, ENV, 1).nice == 10
    assert pg_options({"nice": 0}, ENV, 1).nice == 0
    assert pg_options({"nice": 19}, ENV, 1).nice == 19


@pytest.mark.parametrize("value", [-1, 20, "10", True, 2.5])
def test_a_nice_outside_0_to_19_is_refused_naming_the_value_and_range(value):
    with pytest.raises(PgSetupError, match=r"postgres\.nice: .* is out of range 0\.\.19"):
        pg_options({"nice": value}, ENV, 1)
