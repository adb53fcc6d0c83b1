import pytest

from qluster_agent.pg.controldata import ControlDataError, ControlState, parse_controldata

# Trimmed from `LANG=C pg_controldata` of PostgreSQL 15.
SAMPLE = """\
pg_control version number:            1300
Catalog version number:               202209061
Database system identifier:           7306497125341843432
Database cluster state:               shut down in recovery
pg_control last modified:             Sun 22 Nov 2026 03:35:10 AM UTC
Latest checkpoint location:           0/7000028
Latest checkpoint's REDO location:    0/7000028
Latest checkpoint's REDO WAL file:    000000020000000000000007
Latest checkpoint's TimeLineID:       2
Latest checkpoint's PrevTimeLineID:   2
Minimum recovery ending location:     0/70000A0
Min recovery ending loc's timeline:   2
Backup start location:                0/0
wal_level setting:                    replica
wal_log_hints setting:                on
Data page checksum version:           1
"""


def test_parses_the_fields_the_supervisor_needs() -> None:
    data = parse_controldata(SAMPLE)
    assert data.system_identifier == 7306497125341843432
    assert data.state is ControlState.SHUT_DOWN_IN_RECOVERY
    assert data.checkpoint_lsn == 0x7000028
    assert data.redo_lsn == 0x7000028
    assert data.timeline == 2
    assert data.min_recovery_end_lsn == 0x70000A0
    assert data.min_recovery_end_timeline == 2
    assert data.wal_log_hints and data.data_checksums and data.rewindable


@pytest.mark.parametrize(
    "state, was_primary",
    [
        ("shut down", True),
        ("in production", True),
        ("shut down in recovery", False),
        ("in archive recovery", False),
    ],
)
def test_cluster_state_tells_a_former_primary_apart(state: str, was_primary: bool) -> None:
    data = parse_controldata(SAMPLE.replace("shut down in recovery", state))
    assert data.state.last_ran_as_primary is was_primary


def test_unknown_state_text_is_kept_as_unknown() -> None:
    assert parse_controldata(SAMPLE.replace("shut down in recovery", "en production")).state is ControlState.UNKNOWN


def test_missing_label_is_an_error() -> None:
    text = "\n".join(line for line in SAMPLE.splitlines() if not line.startswith("Latest checkpoint's TimeLineID"))
    with pytest.raises(ControlDataError, match="TimeLineID"):
        parse_controldata(text)


def test_bad_value_is_an_error() -> None:
    with pytest.raises(ControlDataError):
        parse_controldata(SAMPLE.replace("0/7000028", "zz", 1))
