import pytest

from qluster_agent.pg.lsn import format_lsn, parse_lsn, parse_optional_lsn


@pytest.mark.parametrize(
    "text, value",
    [
        ("0/0", 0),
        ("0/3000060", 0x3000060),
        ("16/B374D848", (0x16 << 32) | 0xB374D848),
        ("FFFFFFFF/FFFFFFFF", 2**64 - 1),
    ],
)
def test_lsn_round_trip(text: str, value: int) -> None:
    assert parse_lsn(text) == value
    assert format_lsn(value) == text


def test_lower_case_and_spaces_parse() -> None:
    assert parse_lsn(" 16/b374d848\n") == parse_lsn("16/B374D848")


@pytest.mark.parametrize("text", ["", "0", "/1", "1/", "x/1", "1/2/3", "100000000/0"])
def test_malformed_lsn_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_lsn(text)


def test_null_stays_none() -> None:
    assert parse_optional_lsn(None) is None
    assert parse_optional_lsn("0/10") == 16


@pytest.mark.parametrize("value", [-1, 2**64])
def test_out_of_range_integer_is_rejected(value: int) -> None:
    with pytest.raises(ValueError):
        format_lsn(value)
