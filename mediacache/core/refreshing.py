"""One reader per stale cache entry: while it reads the entry afresh, the others keep the stale value.

For answers from memory alone (a poll on the server's main loop): when a snapshot goes
stale, every poll of a busy entry would otherwise go to the database at once until one
of them had stored a new one, and the poll loop's latency rose each time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable


class Refreshing:
    """Which stale entries a caller is reading afresh; a claim lapses after ``patience`` seconds."""

    def __init__(self, patience: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.patience = patience  # how long the others wait on a reader that may have failed
        self.clock = clock  # what claims lapse on (a test may give a clock it moves on itself)
        self._until: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def may_use(self, key: Hashable, *, fresh: bool, or_stale: bool) -> bool:
        """Whether a cached value may be used: it is fresh, or, with ``or_stale``, another caller is reading it afresh.

        A caller told no about a stale value ``or_stale`` is the one to read it afresh.
        """
        if fresh or not or_stale:
            return fresh
        now = self.clock()
        with self._lock:
            if self._until.get(key, 0.0) > now:
                return True
            if len(self._until) > 10_000:  # lapsed claims of entries nobody asks for any more
                self._until = {k: until for k, until in self._until.items() if until > now}
            self._until[key] = now + self.patience
            return False
