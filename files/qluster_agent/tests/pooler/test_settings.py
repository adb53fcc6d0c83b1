"""The sync's configuration: defaults, and one error naming every bad key."""

from __future__ import annotations

import pytest

from qluster_agent.pooler.plan import Member
from qluster_agent.pooler.settings import SettingsError, load_settings, parse_settings


def test_an_empty_file_takes_the_defaults():
    settings = parse_settings(None)
    assert settings.map_url == "http://127.0.0.1:8080/map"
    assert settings.backends == ("pg_rw", "pg_ro")
    assert (settings.interval, settings.max_backoff, settings.log_repeat) == (1.0, 30.0, 60.0)
    assert settings.seed == ()
    assert settings.leader_backend == "pg_rw"
    assert parse_settings({"leader-backend": ""}).leader_backend == ""


def test_seed_members_are_read():
    settings = parse_settings({"seed": [{"name": "db1", "address": "10.0.0.1", "db_port": 5432, "api_port": 8080}]})
    assert settings.seed == (Member("db1", "10.0.0.1", 5432, 8080),)


@pytest.mark.parametrize("raw,message", [
    ({"intervall": "1s"}, "intervall: unknown key"),
    ({"interval": 1}, "interval: 1 has no unit"),
    ({"interval": "5s", "max-backoff": "1s"}, "max-backoff: '1s' is shorter than interval '5s'"),
    ({"map-url": "localhost:8080/map"}, "map-url: 'localhost:8080/map' is not an http:// URL"),
    ({"backends": []}, "backends: [] is not a non-empty list"),
    ({"backends": ["a", "a"]}, "names a backend twice"),
    ({"leader-backend": "pg_x"}, "leader-backend: 'pg_x' is not one of the backends"),
    ({"leader-backend": 3}, "leader-backend: 3 is not one of the backends"),
    ({"server-options": "check port 8080"}, "server-options: port is set per server"),
    ({"server-options": "inter 1s"}, "lacks `check`"),
    ({"server-options": "check; del server x/y"}, "contains ';'"),
    ({"seed": [{"name": "x"}]}, "seed: not a member"),
])
def test_bad_values_are_named(raw, message):
    with pytest.raises(SettingsError) as info:
        parse_settings(raw)
    assert message in str(info.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as info:
        parse_settings({"interval": "x", "timeout": 0, "typo": 1})
    assert str(info.value).count(";") == 2


def test_a_missing_or_broken_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(str(tmp_path / "absent.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(str(bad))
