"""The life of an entry's file after its job: TTL expiry to the private cache, then the retention purge.

Every sweep is a plain function (tests, the CLI and the admin route call them directly);
periodic.py schedules them. What fits under MAX_CACHE_BYTES is capacity.py's; making disk and
database agree after a crash is reconcile.py's.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

from sqlalchemy import select

from ..core.locking import entry_lock
from ..core.states import RETAINED_STATES, CacheState
from ..core.timeutil import utcnow
from ..db import media_repo
from ..db.extensions import db
from ..db.models import Media
from ..db.settings import get_setting
from . import storage


def expire_due_entries() -> int:
    """Move files whose TTL has passed to the private cache; touches only rows that are due."""
    now = utcnow()
    due = db.session.execute(
        select(Media.id).where(Media.cache_state == CacheState.LIVE, Media.expires_at <= now)
    ).scalars().all()  # fmt: skip
    retained_until = now + timedelta(days=get_setting("retention_days"))
    expired = 0
    for media_id in due:
        with entry_lock(media_id):
            # Row first, then the file: a crash in between leaves a file reconcile moves, never a row that lies.
            changed = media_repo.change(
                media_id, Media.cache_state == CacheState.LIVE, Media.expires_at <= now,
                cache_state=CacheState.EXPIRED, retained_until=retained_until, updated_at=now,
            )  # fmt: skip
            db.session.commit()
            if changed:
                storage.move_to_private(media_id)
                expired += 1
    return expired


def purge_retained_files() -> int:
    """Delete private files whose retention has ended; the rows stay for logs and stats."""
    now = utcnow()
    due = db.session.execute(
        select(Media.id).where(Media.cache_state.in_(RETAINED_STATES), Media.retained_until <= now)
    ).scalars().all()  # fmt: skip
    return sum(purge_entry_files(media_id) for media_id in due)


def purge_entry_files(media_id: str, *, wait: bool = True) -> int:
    """Purge one retained entry's file now (0 if it is not retained, or busy and ``wait`` is off)."""
    with entry_lock(media_id, wait=wait) as locked:
        if not locked:
            return 0
        changed = int(media_repo.change(
            media_id, Media.cache_state.in_(RETAINED_STATES),
            cache_state=CacheState.PURGED, retained_until=None, updated_at=utcnow(),
        ))  # fmt: skip
        db.session.commit()
        if changed:
            shutil.rmtree(storage.private_dir(media_id), ignore_errors=True)
    return changed


def run_sweep() -> dict[str, int]:
    """Expiry then retention purge, as the scheduler runs them."""
    return {"expired": expire_due_entries(), "purged": purge_retained_files()}
