"""Work nobody waits for, done one piece at a time on a thread of its own, never in a job's worker.

A file copied without an encode has its loudness measured after it is served, and an encoded
one its true peak (media/encode.py). Done in the job's worker, that measurement held the worker while the next
job waited for one: the bench's remux and time-to-ready rows lost 0.1-0.5 s to it. Here it
takes no worker, and its processes run only on CPU time the jobs leave over
(sources/processes.py). A stop ends the piece under way and drops the rest; whoever queues
work here must be able to find it again after a restart (media/reconcile.py does).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, current_app

from ..db.extensions import db

log = logging.getLogger(__name__)

EXTENSION_KEY = "mediacache.background"
# A piece of work, handed the event a stop sets (its processes end when it is set).
Work = Callable[[threading.Event], None]


class BackgroundLane:
    """One thread, in the app's context, for work nobody waits for."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        app.extensions[EXTENSION_KEY] = self

    def submit(self, work: Work) -> None:
        """Do ``work`` after what is queued already; nothing once the server stops."""
        with self._lock:
            if self.stopping.is_set():
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="background")
            self._pool.submit(self._run, work)

    def _run(self, work: Work) -> None:
        try:
            with self.app.app_context():
                try:
                    work(self.stopping)
                finally:
                    db.session.remove()
        except Exception:
            log.exception("background work failed")

    def stop(self) -> None:
        """End the work under way (through ``stopping``) and drop what waits."""
        with self._lock:
            self.stopping.set()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def get_background_lane(app: Flask | None = None) -> BackgroundLane:
    """The app's background lane (the current app's, by default)."""
    return (app or current_app).extensions[EXTENSION_KEY]
