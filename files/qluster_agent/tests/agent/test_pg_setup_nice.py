"""postgres.nice: how much nicer than the agent the database runs (0..19, default 10)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from qluster_agent.agent.env import AgentEnv
from qluster_agent.agent.pg_setup import pg_options
from qluster_agent.config.errors import ConfigError

from .postgres_section import postgres

ENV = AgentEnv(config_path=Path("/etc/qluster/config.yaml"), pgdata=Path("/qhb/data"), pgport=5432,
               pguser="qhb", pghome=Path("/usr/lib/postgresql/15"), backup_path=None)


def test_the_database_runs_ten_nicer_by_default_and_as_configured():
    assert pg_options(postgres({}), ENV, 1).nice == 10
    assert pg_options(postgres({"nice": 0}), ENV, 1).nice == 0
    assert pg_options(postgres({"nice": 19}), ENV, 1).nice == 19


@pytest.mark.parametrize("value, why", [(-1, "is out of range 0..19"), (20, "is out of range 0..19"),
                                        ("10", "is not an integer"), (True, "is not an integer"),
                                        (2.5, "is not an integer")])
def test_a_nice_outside_0_to_19_is_refused_naming_the_value_and_range(value, why):
    # With the rest of config.yaml (the key table's integer 0..19), before anything starts.
    with pytest.raises(ConfigError, match=rf"postgres\.nice: {value!r} {re.escape(why)}"):
        postgres({"nice": value})
