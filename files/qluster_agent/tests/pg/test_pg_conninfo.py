import pytest

from qluster_agent.pg.conninfo import (
    Endpoint,
    application_name_for,
    endpoint_of,
    parse_conninfo,
    primary_conninfo,
    quote_conninfo_value,
    render_conninfo,
)


@pytest.mark.parametrize(
    "value, quoted",
    [
        ("qhb", "qhb"),
        ("", "''"),
        ("two words", "'two words'"),
        ("it's", "'it\\'s'"),
        ("a\\b", "'a\\\\b'"),
        ("a=b", "'a=b'"),
    ],
)
def test_values_are_quoted_only_when_needed(value: str, quoted: str) -> None:
    assert quote_conninfo_value(value) == quoted


def test_primary_conninfo_names_the_leader_and_this_standby() -> None:
    text = primary_conninfo(Endpoint("192.168.90.48", 5432), "qhb", application_name_for(2))
    params = parse_conninfo(text)
    assert params["host"] == "192.168.90.48"
    assert params["port"] == "5432"
    assert params["user"] == "qhb"
    assert params["application_name"] == "qluster_2"
    assert params["keepalives"] == "1"
    assert "password" not in params


def test_render_skips_none_and_parse_reads_back_quoted_values() -> None:
    text = render_conninfo({"host": "h", "passfile": None, "application_name": "it's a node"})
    assert text == "host=h application_name='it\\'s a node'"
    assert parse_conninfo(text) == {"host": "h", "application_name": "it's a node"}


def test_parse_tolerates_spaces_around_equals() -> None:
    assert parse_conninfo("host = h  port= 5433") == {"host": "h", "port": "5433"}


def test_endpoint_of_conninfo() -> None:
    assert endpoint_of("host=10.0.0.1 port=5433 user=x") == Endpoint("10.0.0.1", 5433)
    assert endpoint_of("host=10.0.0.1") == Endpoint("10.0.0.1", 5432)
    assert endpoint_of("") is None
    assert endpoint_of("user=x") is None


def test_unterminated_quote_is_an_error() -> None:
    with pytest.raises(ValueError):
        parse_conninfo("host='oops")
