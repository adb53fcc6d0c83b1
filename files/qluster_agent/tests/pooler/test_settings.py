"""The sync's configuration: defaults, and one error naming every bad key."""

from __future__ import annotations

import re

import pytest

from qluster_agent.pooler.plan import Member
from qluster_agent.pooler.settings import SettingsError, load_settings, parse_settings, read_admin_password


def test_an_empty_file_takes_the_defaults():
    settings = parse_settings(None)
    assert settings.map_url == "http://127.0.0.1:8080/map"
    assert settings.backends == ("pg_rw", "pg_ro")
    assert (settings.interval, settings.max_backoff, settings.log_repeat) == (1.0, 30.0, 60.0)
    assert settings.seed == ()
    assert settings.leader_backend == "pg_rw"
    assert parse_settings({"leader-backend": ""}).leader_backend == ""


def test_the_switchover_hold_is_off_by_default_and_read_when_set(tmp_path):
    settings = parse_settings(None)
    assert settings.hold_databases == () and settings.hold_timeout == 15.0
    assert (settings.pgbouncer_socket_dir, settings.pgbouncer_port, settings.pgbouncer_admin_user) == (
        "/var/run/postgresql", 5432, "qluster_hold")
    settings = parse_settings({"hold-databases": ["postgres_tx", "qhb_tx"], "hold-timeout": "10s",
                               "hold-file": "/run/x/hold.json", "pgbouncer-port": 6432})
    assert settings.hold_databases == ("postgres_tx", "qhb_tx")
    assert (settings.hold_timeout, settings.hold_file, settings.pgbouncer_port) == (10.0, "/run/x/hold.json", 6432)
    password = tmp_path / "password"
    password.write_text("secret-0123456789\nignored\n")
    assert read_admin_password(parse_settings({"pgbouncer-password-file": str(password)})) == "secret-0123456789"
    password.write_text("\n")
    with pytest.raises(SettingsError, match="is empty"):
        read_admin_password(parse_settings({"pgbouncer-password-file": str(password)}))


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
    ({"hold-databases": "qhb_tx"}, "hold-databases: 'qhb_tx' is not a list of PgBouncer database names"),
    ({"hold-databases": ["qhb tx"]}, "is not a list of PgBouncer database names"),
    ({"hold-databases": ["a_tx", "a_tx"]}, "hold-databases: ['a_tx', 'a_tx'] names a database twice"),
    ({"hold-databases": ["pgbouncer"]}, "pgbouncer is PgBouncer's admin console"),
    ({"hold-databases": ["a_tx"], "hold-session-databases": ["a b"]},
     "hold-session-databases: ['a b'] is not a list of PgBouncer database names"),
    ({"hold-databases": ["a_tx"], "hold-session-databases": ["a_tx"]},
     "hold-session-databases: ['a_tx'] also in hold-databases"),
    ({"hold-session-databases": ["a"]}, "hold-session-databases: set without hold-databases"),
    ({"hold-file": "hold.json"}, "hold-file: 'hold.json' is not an absolute path"),
    ({"hold-timeout": "0s"}, "hold-timeout: must be more than 0"),
    ({"pgbouncer-port": "5432"}, "pgbouncer-port: '5432' is not a TCP port"),
    ({"pgbouncer-port": 0}, "pgbouncer-port: 0 is not a TCP port"),
    ({"pgbouncer-socket-dir": ""}, "pgbouncer-socket-dir: '' is not an absolute path"),
    ({"pgbouncer-password-file": None}, "pgbouncer-password-file: None is not an absolute path"),
    ({"pgbouncer-admin-user": "a b"}, "pgbouncer-admin-user: 'a b' is not a user name"),
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


def test_the_failover_hold_is_on_by_default_and_its_bound_follows_the_cluster_unless_set():
    settings = parse_settings(None)
    assert (settings.failover_hold, settings.failover_hold_timeout) == (True, None)
    settings = parse_settings({"failover-hold": False, "failover-hold-timeout": "3s"})
    assert (settings.failover_hold, settings.failover_hold_timeout) == (False, 3.0)


@pytest.mark.parametrize("raw,problem", [
    ({"failover-hold": "yes"}, "failover-hold: 'yes' is not true or false"),
    ({"failover-hold-timeout": "0s"}, "failover-hold-timeout: must be more than 0"),
    ({"failover-hold-timeout": 3}, "failover-hold-timeout: "),
    ({"failover-hold-timeout": "soon"}, "failover-hold-timeout: "),
])
def test_a_bad_failover_hold_key_is_named(raw, problem):
    with pytest.raises(SettingsError, match=re.escape(problem)):
        parse_settings(raw)
