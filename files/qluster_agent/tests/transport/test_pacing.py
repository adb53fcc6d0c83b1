import pytest

from qluster_agent.transport.pacing import TokenBucket


def test_the_burst_goes_at_once_then_the_rate_applies():
    bucket = TokenBucket(rate=1000, burst=500, now=0.0)
    assert bucket.wait_time(500, now=0.0) == 0.0
    assert bucket.wait_time(100, now=0.0) == pytest.approx(0.1)
    assert bucket.wait_time(100, now=0.05) == pytest.approx(0.05)  # nothing was taken meanwhile
    assert bucket.wait_time(100, now=0.1) == 0.0


def test_sending_steadily_converges_to_the_rate():
    bucket = TokenBucket(rate=1_000_000, burst=65_000, now=0.0)
    now, sent = 0.0, 0
    while sent < 1_000_000:
        delay = bucket.wait_time(64_000, now)
        if delay:
            now += delay
        else:
            sent += 64_000
    assert 0.9 <= now <= 1.0  # 1 MB at 1 MB/s, less the initial burst


def test_tokens_do_not_pile_up_beyond_the_burst():
    bucket = TokenBucket(rate=1000, burst=500, now=0.0)
    assert bucket.wait_time(500, now=100.0) == 0.0
    assert bucket.wait_time(500, now=100.0) == pytest.approx(0.5)


def test_rate_zero_is_unlimited_and_oversize_is_a_bug():
    assert TokenBucket(rate=0, burst=1, now=0.0).wait_time(10**9, now=0.0) == 0.0
    with pytest.raises(ValueError):
        TokenBucket(rate=10, burst=5, now=0.0).wait_time(6, now=0.0)
