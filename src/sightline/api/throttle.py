"""Sign-in throttling by client address, on top of the per-account lock-out.

The account lock-out (:data:`~sightline.services.access.users.MAX_FAILED_LOGINS`) stops guessing one
user's password; it does not stop one address trying one password against many users. This
throttle counts failed sign-ins per address in a sliding window and refuses further attempts
with HTTP 429 until the window has room again.

State is in memory, per API process: a restart forgets it (the account locks persist in the
database). A deployment with several API processes behind a proxy throttles at the proxy too.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from sightline.errors import TooManyAttempts

MAX_FAILURES_PER_ADDRESS = 20
"""Failed sign-ins one address may make in :data:`WINDOW_SECONDS`: a busy office behind one
NAT gateway still signs in; a password spray across accounts is slowed to a crawl."""

WINDOW_SECONDS = 300.0


class LoginThrottle:
    """A sliding-window counter of failed sign-ins per address (thread-safe)."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES_PER_ADDRESS,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_failures
        self._window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        """Refuse an attempt from ``address`` while its window is full.

        Raises:
            TooManyAttempts: with the seconds until the oldest failure leaves the window.
        """
        with self._lock:
            recent = self._recent(address)
            if len(recent) >= self._max:
                wait = recent[0] + self._window - self._clock()
                raise TooManyAttempts(max(1, math.ceil(wait)))

    def failed(self, address: str) -> None:
        """Count a failed sign-in from ``address``."""
        with self._lock:
            self._recent(address).append(self._clock())

    def _recent(self, address: str) -> deque[float]:
        recent = self._failures.setdefault(address, deque())
        horizon = self._clock() - self._window
        while recent and recent[0] <= horizon:
            recent.popleft()
        if len(self._failures) > 100_000:  # bound memory under a flood of spoofed addresses
            self._failures = {address: recent}
        return recent
