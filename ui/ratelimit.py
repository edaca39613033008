"""A sliding-window rate limiter: at most `limit` events per key in any `window` seconds.

The server keys it by user (the signed-in name, else the client's address), so one busy user waits while the
others go on. Plain Python, thread-safe, no dependencies; the clock is injectable for tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable

DEFAULT_PER_MINUTE = 30  # chat turns per user per minute (`patfig serve --rate-limit`)


class SlidingWindowLimiter:
    """At most `limit` events per key in any `window` seconds; `limit` 0 lets everything through."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 0 or window <= 0:
            raise ValueError(f"limit must be >= 0 and window > 0 (got limit={limit}, window={window})")
        self.limit, self.window, self.clock = limit, window, clock
        self._events: dict[Hashable, deque[float]] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def acquire(self, key: Hashable) -> float:
        """Count one event for `key` if the window has room and return 0.0; else count nothing and return the
        seconds until the oldest event in the window leaves it (when the next one will be allowed)."""
        if self.limit == 0:
            return 0.0
        now = self.clock()
        with self._lock:
            self._sweep(now)
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return max(events[0] + self.window - now, 0.001)
            events.append(now)
            return 0.0

    def used(self, key: Hashable) -> int:
        """How many events of `key` are in the window now."""
        now = self.clock()
        with self._lock:
            return sum(1 for t in self._events.get(key, ()) if t > now - self.window)

    def _sweep(self, now: float) -> None:
        """Forget keys with no event in the window (once a window), so memory follows the active users only."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.window
        for key in [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window]:
            del self._events[key]


def wait_message(wait_seconds: float, limit: int, window: float = 60.0) -> str:
    """The polite answer to a user past the limit: how long to wait."""
    seconds = max(1, math.ceil(wait_seconds))
    per = "minute" if window == 60 else f"{window:g} seconds"
    return (f"You have sent {limit} requests in the last {per}, the most this server takes from one user. "
            f"Please wait {seconds} second{'s' if seconds != 1 else ''} and ask again; your session is kept.")
