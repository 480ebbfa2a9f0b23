"""The per-address sign-in throttle: a sliding window of failures."""

from __future__ import annotations

import pytest

from sightline.api.throttle import LoginThrottle
from sightline.errors import TooManyAttempts


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_refused_once_its_window_is_full_then_recovers() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(max_failures=3, window=60.0, clock=clock)
    for _ in range(3):
        throttle.check("10.0.0.1")
        throttle.failed("10.0.0.1")
        clock.now += 10
    with pytest.raises(TooManyAttempts) as refused:
        throttle.check("10.0.0.1")
    assert refused.value.http_status == 429
    assert refused.value.retry_after == 30  # the first failure leaves the window at t+60
    throttle.check("10.0.0.2")  # other addresses are unaffected
    clock.now += 30
    throttle.check("10.0.0.1")  # the oldest failure has left the window


def test_successes_do_not_count() -> None:
    throttle = LoginThrottle(max_failures=1, window=60.0, clock=FakeClock())
    for _ in range(10):
        throttle.check("10.0.0.1")
