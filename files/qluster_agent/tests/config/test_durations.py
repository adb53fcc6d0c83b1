import pytest

from qluster_agent.config import format_duration, parse_duration
from qluster_agent.config.durations import DurationTooLong


@pytest.mark.parametrize(
    "text, seconds",
    [("500ms", 0.5), ("30s", 30.0), ("1m", 60.0), ("1h", 3600.0), ("1.5s", 1.5), (" 10s ", 10.0), ("0s", 0.0)],
)
def test_parses_the_units_the_seed_uses(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "value, message",
    [
        ("abc", "'abc' is not a duration (use e.g. 500ms, 5s, 1m)"),
        ("5 sec", "'5 sec' is not a duration (use e.g. 500ms, 5s, 1m)"),
        ("-1s", "'-1s' is not a duration (use e.g. 500ms, 5s, 1m)"),
        (30, "30 has no unit (use e.g. 500ms, 5s, 1m)"),
        (1.5, "1.5 has no unit (use e.g. 500ms, 5s, 1m)"),
        (True, "True is not a duration (use e.g. 500ms, 5s, 1m)"),
        (None, "None is not a duration (use e.g. 500ms, 5s, 1m)"),
        ("0.5ms", "'0.5ms' is finer than 1ms"),
    ],
)
def test_rejects_what_is_not_a_duration_with_the_value_quoted(value, message):
    with pytest.raises(ValueError) as error:
        parse_duration(value)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "seconds, text",
    [(0.5, "500ms"), (1.5, "1500ms"), (5.0, "5s"), (60.0, "1m"), (90.0, "90s"), (3600.0, "1h"), (0.0, "0ms")],
)
def test_formats_in_the_largest_exact_unit(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text, seconds",
    [("000000000000000000001s", 1.0), ("1.000000000000000000000s", 1.0), ("999999999999ms", 999999999.999),
     ("0.0000025h", 0.009), ("2.5m", 150.0)],
)
def test_leading_and_trailing_zeros_do_not_count_as_digits(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "value, message",
    [
        ("9999999999999ms", "'9999999999999ms' is too long (at most 12 digits before the point)"),
        ("99999999999999999999h", "'99999999999999999999h' is too long (at most 12 digits before the point)"),
        ("1.0000000001s", "'1.0000000001s' is finer than 1ms"),
        ("1.00000001h", "'1.00000001h' is finer than 1ms"),
        ("\u0663s", "'\u0663s' is not a duration (use e.g. 500ms, 5s, 1m)"),  # an Arabic-Indic digit
    ],
)
def test_huge_numbers_and_long_fractions_are_refused_before_any_arithmetic(value, message):
    with pytest.raises(ValueError) as error:
        parse_duration(value)
    assert str(error.value) == message


def test_a_megabyte_of_digits_is_refused_as_too_long():
    with pytest.raises(DurationTooLong):
        parse_duration("1" * 1_000_000 + "s")
