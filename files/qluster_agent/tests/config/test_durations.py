import pytest

from qluster_agent.config import format_duration, parse_duration


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
