"""One run of an entry's job, as the runner hands it to the work function: its cancel signal and its progress.

``Run`` is what a cancel reaches and what the runner queues (a second run of an entry waits in
the first one's ``next``); ``ProgressReporter`` is what the work function calls with progress,
kept in memory and written to the row at most once a second.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ..core.states import WORKING_STATES
from ..db import media_repo
from ..db.extensions import db
from ..db.models import Media

PROGRESS_WRITE_INTERVAL = 1.0  # seconds between writes of a job's progress to its row


class Run:
    """One run of an entry's job: its own cancel signal, work folder name and progress.

    An entry may be cancelled and queued again while its old run is still stopping; the
    new run is a new object, so it can neither inherit the old cancel signal nor lose its
    state to the old run's clean-up.
    """

    def __init__(self, media_id: str) -> None:
        self.media_id = media_id
        self.token = uuid.uuid4().hex[:12]
        self.cancel = threading.Event()
        self.progress: dict[str, Any] | None = None
        self.future: Future | None = None
        self.next: Run | None = None  # queued behind this run; started when this one has ended
        self._claim_lock = threading.Lock()

    def claim(self, claim: Callable[[], bool]) -> bool:
        """Run ``claim`` (the row's conditional update) unless cancelled, with no cancel in between.

        Otherwise a run cancelled before it claimed could claim the row after the entry was
        queued again, and carry the set cancel signal into what should be the next run.
        """
        with self._claim_lock:
            return not self.cancel.is_set() and claim()

    def stop(self) -> None:
        """Ask this run to stop (yt-dlp stops at its next chunk, ffmpeg is killed)."""
        with self._claim_lock:
            self.cancel.set()

    @property
    def running(self) -> bool:
        """Whether a worker runs it right now."""
        return self.future is not None and self.future.running()


class ProgressReporter:
    """Keeps a job's progress in memory and writes it to the row at most once a second."""

    def __init__(self, run: Run, listeners: list[Callable[[str], None]] | None = None) -> None:
        self.run = run
        self.listeners = listeners or []  # told the entry's id after each progress write (the event hub)
        self._last_write = 0.0

    def __call__(self, progress: dict[str, Any]) -> None:
        """Record progress; persist it if the last write is old enough."""
        progress = {key: value for key, value in progress.items()}
        if isinstance(progress.get("percent"), float):
            progress["percent"] = round(progress["percent"], 1)
        self.run.progress = progress
        now = time.monotonic()
        if now - self._last_write >= PROGRESS_WRITE_INTERVAL and not self.run.cancel.is_set():
            self._last_write = now
            # Only while the row is still this run's: once cancelled it may be pending for the next run.
            changed = media_repo.change(self.run.media_id, Media.status.in_(WORKING_STATES), progress=progress)
            db.session.commit()
            for listener in self.listeners if changed else ():
                listener(self.run.media_id)
