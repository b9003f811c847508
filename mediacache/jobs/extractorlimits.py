"""Be gentle with one site: at most N jobs of a site at once, their starts at least S seconds apart.

A burst of 30 YouTube links must not look like a bot. A job whose site is at its limit does
not hold a worker while it waits: it gives the worker back and is woken (resubmitted) when a
slot is free, so jobs for other sites run meanwhile (MEDIACACHE_EXTRACTOR_LIMITS).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from flask import Flask

EXTENSION_KEY = "mediacache.extractor_limits"


class _Site:
    def __init__(self, concurrency: int, interval: float) -> None:
        self.concurrency, self.interval = concurrency, interval
        self.active = 0
        self.last_start = float("-inf")
        self.waiting: deque[Callable[[], None]] = deque()
        self.timer: threading.Timer | None = None


class ExtractorGate:
    """Admits jobs per site under its limit; a job refused now is called back when it may try again."""

    def __init__(self, limits: dict[str, tuple[int, float]], clock: Callable[[], float] = time.monotonic) -> None:
        self._sites = {site: _Site(*limit) for site, limit in limits.items()}
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False

    def enter(self, site: str, wake: Callable[[], None]) -> bool:
        """Take a slot of ``site`` now (True), or have ``wake`` called once one may be free (False)."""
        state = self._sites.get(site)
        if state is None:
            return True
        with self._lock:
            now = self._clock()
            entered = state.active < state.concurrency and now >= state.last_start + state.interval
            if entered:
                state.active += 1
                state.last_start = now
            else:
                state.waiting.append(wake)
            # Either way the next waiter's turn may be due now, or after the interval: wake or time it.
            ready = self._next_ready(site, state)
        self._call(ready)
        return entered

    def leave(self, site: str) -> None:
        """Give back a slot taken by ``enter``."""
        state = self._sites.get(site)
        if state is None:
            return
        with self._lock:
            state.active = max(0, state.active - 1)
            ready = self._next_ready(site, state)
        self._call(ready)

    def waiting(self, site: str) -> int:
        """Jobs of ``site`` waiting for a slot."""
        state = self._sites.get(site)
        return len(state.waiting) if state else 0

    def close(self) -> None:
        """Stop timers (shutdown); waiting jobs stay pending in the database for the next start."""
        with self._lock:
            self._closed = True
            for state in self._sites.values():
                if state.timer is not None:
                    state.timer.cancel()
                state.waiting.clear()

    def _next_ready(self, site: str, state: _Site) -> Callable[[], None] | None:
        """Under the lock: the waiter to wake now, or a timer set for when the interval has passed."""
        if self._closed or not state.waiting or state.active >= state.concurrency or state.timer is not None:
            return None
        delay = state.last_start + state.interval - self._clock()
        if delay <= 0:
            return state.waiting.popleft()
        state.timer = threading.Timer(delay, self._interval_passed, args=(site,))
        state.timer.daemon = True
        state.timer.name = f"mediacache-gate-{site}"
        state.timer.start()
        return None

    def _interval_passed(self, site: str) -> None:
        state = self._sites[site]
        with self._lock:
            state.timer = None
            ready = self._next_ready(site, state)
        self._call(ready)

    @staticmethod
    def _call(wake: Callable[[], None] | None) -> None:
        if wake is not None:
            wake()  # outside the lock: it submits a job, which may come straight back to enter()


def init_gate(app: Flask) -> ExtractorGate:
    """The app's gate, built from MEDIACACHE_EXTRACTOR_LIMITS."""
    gate = ExtractorGate(app.config["EXTRACTOR_LIMITS"])
    app.extensions[EXTENSION_KEY] = gate
    return gate


def get_gate(app: Flask) -> ExtractorGate:
    """The app's gate (built on first use)."""
    return app.extensions.get(EXTENSION_KEY) or init_gate(app)
