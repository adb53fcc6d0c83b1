import pytest

from qluster_agent.pg.settings import (
    ManagedSettings,
    ServerRole,
    include_line,
    quote_guc,
    render_managed_conf,
    with_include,
)
from qluster_agent.pg.sync import ASYNCHRONOUS, SyncStandbys, synchronous_standby_names

# The template of seed 000 §6.1, abridged.
QHB_CONF = """\
listen_addresses = '*'
wal_level = replica
archive_mode = on
archive_command = '/usr/bin/qbackup backup-wal -B /opt/qhb-backup -f %f -p %p'
wal_receiver_create_temp_slot = on
cluster_name = 'qluster1-qhb'
"""


@pytest.mark.parametrize(
    "k, names, expected",
    [
        (0, [], ""),
        (0, ["a"], ""),
        (1, ["qluster_2", "qluster_3"], 'ANY 1 ("qluster_2", "qluster_3")'),
        (2, ["n2", "n3", "n4", "n5"], 'ANY 2 ("n2", "n3", "n4", "n5")'),
        (1, ['odd"name'], 'ANY 1 ("odd""name")'),
    ],
)
def test_synchronous_standby_names(k: int, names: list[str], expected: str) -> None:
    assert synchronous_standby_names(k, names) == expected


@pytest.mark.parametrize("k, names", [(-1, []), (3, ["a", "b"])])
def test_impossible_k_is_rejected(k: int, names: list[str]) -> None:
    with pytest.raises(ValueError):
        synchronous_standby_names(k, names)
    with pytest.raises(ValueError):
        SyncStandbys(k, tuple(names))


def test_sync_standbys_value_object() -> None:
    assert ASYNCHRONOUS.render() == ""
    assert SyncStandbys(1, ("qluster_2",)).render() == 'ANY 1 ("qluster_2")'


def test_guc_quoting_doubles_quotes_and_escapes_backslashes() -> None:
    assert quote_guc("host=h application_name='x'") == "'host=h application_name=''x'''"
    assert quote_guc("a\\b") == "'a\\\\b'"


def test_replica_file_holds_streaming_settings() -> None:
    text = render_managed_conf(
        ManagedSettings(
            role=ServerRole.REPLICA,
            port=5432,
            primary_conninfo="host=h port=5432",
            restore_command="qluster-wal restore %f %p --src /w",
            archive_mode="on",
            archive_command="qluster-wal archive %p %f --dest /w",
        )
    )
    lines = text.splitlines()
    assert "# role: replica" in lines
    for expected in (
        "port = 5432",
        "primary_conninfo = 'host=h port=5432'",
        "primary_slot_name = ''",
        "wal_receiver_create_temp_slot = on",
        "hot_standby = on",
        "wal_log_hints = on",
        "recovery_target_timeline = 'latest'",
        "synchronous_standby_names = ''",
        "archive_mode = 'on'",
        "restore_command = 'qluster-wal restore %f %p --src /w'",
        "archive_command = 'qluster-wal archive %p %f --dest /w'",
    ):
        assert expected in lines


def test_unmanaged_archive_settings_are_left_to_the_template() -> None:
    text = render_managed_conf(ManagedSettings(role=ServerRole.PRIMARY))
    assert "archive_command" not in text and "restore_command" not in text and "port" not in text


def test_extra_settings_come_last_and_render_by_type() -> None:
    text = render_managed_conf(
        ManagedSettings(role=ServerRole.PRIMARY, extra=(("fsync", False), ("max_connections", 30)))
    )
    assert text.splitlines()[-2:] == ["fsync = off", "max_connections = 30"]


def test_include_is_appended_once_and_the_template_text_kept() -> None:
    updated = with_include(QHB_CONF)
    assert updated is not None
    assert updated.startswith(QHB_CONF)
    assert updated.rstrip().endswith(include_line())
    assert with_include(updated) is None


def test_include_moves_to_the_end_when_a_later_line_would_override_it() -> None:
    text = QHB_CONF + include_line() + "\nport = 6000\n"
    updated = with_include(text)
    assert updated is not None and updated.rstrip().endswith(include_line())


def test_include_into_an_empty_or_unterminated_file() -> None:
    assert (
        with_include("")
        == "# Role-dependent settings managed by the qluster agent (keep this line last).\n" + include_line() + "\n"
    )
    assert with_include("port = 1").startswith("port = 1\n")
