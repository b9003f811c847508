"""Per-entry locks: decisions that change a row and move its file happen one at a time per entry.

Conditional updates keep the database honest; these locks keep the row and the file in
step (a restore must not be seen half-done by a concurrent queue call). One process
serves and runs jobs by design, so an in-process lock is enough.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_guard = threading.Lock()
_locks: dict[str, tuple[threading.Lock, int]] = {}


@contextmanager
def entry_lock(media_id: str, *, wait: bool = True) -> Iterator[bool]:
    """Hold the lock of one entry (yields False if ``wait`` is off and it is busy)."""
    with _guard:
        lock, users = _locks.get(media_id, (None, 0))
        lock = lock or threading.Lock()
        _locks[media_id] = (lock, users + 1)
    acquired = lock.acquire(blocking=wait)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()
        with _guard:
            lock, users = _locks[media_id]
            if users == 1:
                del _locks[media_id]
            else:
                _locks[media_id] = (lock, users - 1)
