"""What the cache may hold: the bytes of its files, live and retained, against MAX_CACHE_BYTES.

New work is admitted only if it fits; retained files are purged, oldest first, to make room,
and live files never are (they are served until their TTL). The byte gauges are declared here.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app
from sqlalchemy import func, select

from ..core.gauges import Gauge
from ..core.states import FILE_STATES, RETAINED_STATES
from ..db.extensions import db
from ..db.models import Media
from .lifecycle import purge_entry_files


def used_bytes() -> int:
    """Bytes of every file the cache keeps, live and retained."""
    total = db.session.scalar(select(func.sum(Media.size_bytes)).where(Media.cache_state.in_(FILE_STATES)))
    return int(total or 0)


def retained_bytes() -> int:
    """Bytes of files kept privately."""
    total = db.session.scalar(select(func.sum(Media.size_bytes)).where(Media.cache_state.in_(RETAINED_STATES)))
    return int(total or 0)


def cache_gauges(app: Flask) -> list[Gauge]:
    """The cache's bytes, read at scrape time."""

    def read(measure: Callable[[], int]) -> Callable[[], int]:
        def in_app_context() -> int:
            with app.app_context():
                try:
                    return measure()
                finally:
                    db.session.remove()

        return in_app_context

    return [
        Gauge(
            "mediacache_cache_bytes_live", "Bytes of files being served.", read(lambda: used_bytes() - retained_bytes())
        ),
        Gauge("mediacache_cache_bytes_retained", "Bytes of files kept privately.", read(retained_bytes)),
    ]


def typical_file_size() -> int:
    """The average size of the files kept: the estimate a queue call checks room for."""
    average = db.session.scalar(select(func.avg(Media.size_bytes)).where(Media.cache_state.in_(FILE_STATES)))
    return int(average or 0)


def make_room(needed: int) -> bool:
    """Purge retained files, oldest first, until ``needed`` more bytes fit under MAX_CACHE_BYTES.

    Live files are never evicted before their TTL: if purging every retained file is not
    enough, the answer is False and the caller refuses the new work.
    """
    limit = current_app.config["MAX_CACHE_BYTES"]
    if not limit:
        return True
    used = used_bytes()
    if used + needed <= limit:
        return True
    candidates = db.session.execute(
        select(Media.id, Media.size_bytes)
        .where(Media.cache_state.in_(RETAINED_STATES))
        .order_by(Media.retained_until.asc(), Media.created_at.asc())
    ).all()  # fmt: skip
    for media_id, size in candidates:
        if used + needed <= limit:
            break
        # Never wait here: the caller may hold another entry's lock, and that one may be purging too.
        if purge_entry_files(media_id, wait=False):
            used -= size or 0
    return used + needed <= limit
