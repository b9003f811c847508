"""One account never holds every worker while another account's job waits for one.

Workers are few (two by default) and a job can hold one for long: a source that sends a little
and then stalls keeps its worker until yt-dlp's socket timeouts and retries give up. Twenty such
jobs queued by one account filled every worker for hours while other accounts' jobs waited. An
account may start a job on the last free worker only when no other account's job waits; else
the job gives its worker back and is submitted again when any job ends. With nobody else
waiting, one account still gets every worker.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable

from flask import Flask

EXTENSION_KEY = "mediacache.fair_share"


class FairShare:
    """Admits an account's job unless it would take the last worker while another account's job waits."""

    def __init__(self, app: Flask, workers: Callable[[], int], others_waiting: Callable[[str], bool]) -> None:
        self._workers = workers
        self._others_waiting = others_waiting  # whether another account has a job waiting for a worker
        self._running: Counter[str] = Counter()
        self._deferred: dict[str, deque[Callable[[], None]]] = {}
        self._lock = threading.Lock()
        app.extensions[EXTENSION_KEY] = self

    def enter(self, account: str, wake: Callable[[], None]) -> bool:
        """Take a worker for ``account`` (True), or have ``wake`` called when a job ends (False)."""
        share = max(1, self._workers() - 1)
        with self._lock:
            if self._running[account] < share:
                self._running[account] += 1
                return True
        if self._others_waiting(account):  # asked outside the lock: it reads the database
            with self._lock:
                self._deferred.setdefault(account, deque()).append(wake)
            return False
        with self._lock:
            self._running[account] += 1
        return True

    def leave(self, account: str) -> None:
        """Give back the worker; the oldest deferred job of every account tries again."""
        with self._lock:
            self._running[account] -= 1
            if self._running[account] <= 0:
                del self._running[account]
            retry = [queue.popleft() for queue in self._deferred.values() if queue]
            self._deferred = {name: queue for name, queue in self._deferred.items() if queue}
        for wake in retry:
            wake()  # outside the lock: it submits a job, which may come straight back to enter()

    def deferred(self) -> int:
        """Jobs waiting for their account's turn."""
        with self._lock:
            return sum(len(queue) for queue in self._deferred.values())


def get_fair_share(app: Flask) -> FairShare:
    """The app's fair share of workers (set up by create_app)."""
    return app.extensions[EXTENSION_KEY]
