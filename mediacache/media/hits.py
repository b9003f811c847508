"""Access accounting: file hits counted in memory and written to the database in batches."""

from __future__ import annotations

import threading
from datetime import datetime

from flask import Flask, current_app

from ..core.timeutil import utcnow
from ..db import media_repo
from ..db.extensions import db
from ..db.models import DailyServed, Media

EXTENSION_KEY = "mediacache.access"


class AccessCounter:
    """Per-entry hit counts since the last flush; serving a file costs no database write."""

    def __init__(self, app: Flask) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[int, datetime]] = {}
        app.extensions[EXTENSION_KEY] = self

    def record(self, media_id: str) -> None:
        """Count one access to an entry's file."""
        now = utcnow()
        with self._lock:
            count, _ = self._pending.get(media_id, (0, now))
            self._pending[media_id] = (count + 1, now)

    def pending(self, media_id: str) -> tuple[int, datetime | None]:
        """Hits not yet flushed, and the time of the latest."""
        with self._lock:
            return self._pending.get(media_id, (0, None))

    def flush(self) -> int:
        """Write every pending count in one transaction; returns how many entries were updated."""
        with self._lock:
            batch, self._pending = self._pending, {}
        for media_id, (count, last) in batch.items():
            media_repo.change(media_id, hits=Media.hits + count, last_accessed_at=last)
        if batch:
            count_served(utcnow().date(), sum(count for count, _ in batch.values()))
        db.session.commit()
        return len(batch)


def count_served(day, hits: int) -> None:
    """Add ``hits`` to that day's served count (one flush at a time, so read-then-write does not race)."""
    row = db.session.get(DailyServed, day)
    if row is None:
        db.session.add(DailyServed(day=day, hits=hits))
    else:
        row.hits += hits


def get_access_counter(app: Flask | None = None) -> AccessCounter:
    """The app's access counter."""
    return (app or current_app).extensions[EXTENSION_KEY]


def flush_access_counts() -> int:
    """The periodic job: persist hits counted since the last run."""
    return get_access_counter().flush()
