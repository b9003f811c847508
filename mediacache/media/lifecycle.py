"""The life of an entry after its job: expiry, retention purge, reconcile, capacity, start-up recovery.

Every sweep is a plain function (tests and the admin route call them directly);
``PERIODIC_JOBS`` is the one table the scheduler is built from.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import delete, func, select

from ..core.gauges import Gauge
from ..core.locking import entry_lock
from ..core.states import FILE_STATES, RETAINED_STATES, RUNNING_STATES, WORKING_STATES, CacheState, Status
from ..core.timeutil import utcnow
from ..db import media_repo
from ..db.extensions import db
from ..db.models import Media, RevokedToken
from ..db.settings import get_setting
from ..jobs import scheduler
from ..jobs.runner import get_runner
from ..jobs.scheduler import PeriodicJob
from ..sources import site_status
from . import storage
from .hits import flush_access_counts
from .webhooks import purge_old_deliveries

log = logging.getLogger(__name__)

ACCESS_FLUSH_INTERVAL = 10


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


def reconcile_storage() -> dict[str, int]:
    """Make disk and database agree: lost files are re-queued or marked purged, stray folders set aside.

    A folder whose entry the database does not know is quarantined, never deleted: an empty
    or new database (a wrong path, a restored backup) knows none of them, and the files are
    the cache's only copy. Folders of known entries that should have none are removed.
    """
    result = {"requeued": 0, "marked_purged": 0, "orphans_removed": 0, "moved_to_private": 0, "quarantined": 0}
    rows = {
        media_id: (status, state, file_name)
        for media_id, status, state, file_name in db.session.execute(
            select(Media.id, Media.status, Media.cache_state, Media.file_name)
        )
    }
    runner = get_runner(current_app)
    for media_id, (status, state, file_name) in rows.items():
        if status in RUNNING_STATES:
            continue
        if state == CacheState.LIVE and storage.live_file(media_id, file_name) is None:
            # Its file is gone: the entry is made again rather than left "completed" with nothing behind it.
            if _requeue_lost(media_id):
                runner.submit(media_id)
                result["requeued"] += 1
        elif state in RETAINED_STATES and not storage.retained_file_exists(media_id, file_name):
            if storage.live_file(media_id, file_name) is not None:
                storage.move_to_private(media_id)  # crashed between the row update and the move
                result["moved_to_private"] += 1
            else:
                result["marked_purged"] += purge_entry_files(media_id)
    folders = ((storage.static_entry_dirs(), (CacheState.LIVE,)), (storage.private_entry_dirs(), RETAINED_STATES))
    unknown = []
    for entry_dirs, keep_states in folders:
        for path in entry_dirs:
            row = rows.get(path.name)
            if row is None:
                unknown.append(path)
            elif row[0] not in RUNNING_STATES and row[1] not in keep_states:
                shutil.rmtree(path, ignore_errors=True)
                result["orphans_removed"] += 1
    result["quarantined"] = _quarantine_unknown(unknown)
    return result


def _quarantine_unknown(paths: list) -> int:
    """Move folders of entries the database does not know to a quarantine folder, and say so."""
    # Entries created since the rows were read are known after all.
    known = {
        media_id
        for start in range(0, len(paths), 500)
        for media_id in db.session.scalars(
            select(Media.id).where(Media.id.in_([path.name for path in paths[start : start + 500]]))
        )
    }
    strays = [path for path in paths if path.name not in known]
    if not strays:
        return 0
    batch = storage.new_quarantine_batch()
    moved = 0
    for path in strays:
        try:
            storage.quarantine(path, batch)
            moved += 1
        except OSError:
            log.exception("could not quarantine %s; it was left where it is", path)
    log.warning(
        "%d cache folder(s) unknown to the database were moved to %s (nothing was deleted). "
        "If this database is new or was replaced, the files are still there: move them back "
        "with the right database, or delete that folder once they are not needed.",
        moved, batch,
    )  # fmt: skip
    return moved


def _requeue_lost(media_id: str) -> bool:
    changed = media_repo.change(
        media_id, Media.cache_state == CacheState.LIVE, Media.status == Status.COMPLETED,
        status=Status.PENDING, cache_state=CacheState.NONE, file_name=None, size_bytes=None, expires_at=None,
        progress=None, updated_at=utcnow(), attempts=0, retry_at=None,
    )  # fmt: skip
    db.session.commit()
    return bool(changed)


def purge_expired_tokens() -> int:
    """Forget revocations of tokens that have expired anyway."""
    removed = db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= utcnow())).rowcount
    db.session.commit()
    return removed


def run_due_retries() -> int:
    """Submit entries whose retry is due (a backstop for the runner's own timers, e.g. after a clock jump)."""
    due = db.session.scalars(
        select(Media.id).where(Media.status == Status.PENDING, Media.retry_at.is_not(None), Media.retry_at <= utcnow())
    ).all()
    runner = get_runner(current_app)
    for media_id in due:
        runner.submit(media_id)  # a second submission of one entry claims nothing
    return len(due)


def check_canaries() -> dict[str, bool]:
    """The canary URLs' metadata extraction (sources/site_status.py); nothing when none are configured."""
    return site_status.check_canaries() if current_app.config["CANARY_URLS"] else {}


def run_sweep() -> dict[str, int]:
    """Expiry then retention purge, as the scheduler runs them."""
    return {"expired": expire_due_entries(), "purged": purge_retained_files()}


def recover_on_start(app: Flask) -> dict[str, int]:
    """After a restart or crash: no leftovers, no half-done rows, every interrupted job queued again."""
    with app.app_context():
        temp_removed = storage.remove_all_temp_dirs() + storage.remove_staging_leftovers()
        reset = media_repo.change_all(
            Media.status.in_(WORKING_STATES), status=Status.PENDING, progress=None, updated_at=utcnow()
        )
        db.session.commit()
        reconciled = reconcile_storage()
        db.session.remove()
    resubmitted = get_runner(app).resubmit_pending()
    summary = {"temp_removed": temp_removed, "reset": reset, "resubmitted": resubmitted, **reconciled}
    if any(summary.values()):
        log.info("start-up recovery: %s", summary)
    return summary


# --- the one table of periodic jobs (jobs/scheduler.py runs them) ---------------------


PERIODIC_JOBS = (
    PeriodicJob("expire-entries", expire_due_entries, lambda config: config["SWEEP_INTERVAL"]),
    PeriodicJob("purge-retained", purge_retained_files, lambda config: config["SWEEP_INTERVAL"]),
    PeriodicJob("reconcile-storage", reconcile_storage, lambda config: 3600),
    PeriodicJob("purge-revoked-tokens", purge_expired_tokens, lambda config: 3600),
    PeriodicJob("flush-access-counts", flush_access_counts, lambda config: ACCESS_FLUSH_INTERVAL, quiet=True),
    PeriodicJob("run-due-retries", run_due_retries, lambda config: config["SWEEP_INTERVAL"]),
    PeriodicJob("check-canaries", check_canaries, lambda config: config["CANARY_INTERVAL"]),
    PeriodicJob("purge-webhook-deliveries", purge_old_deliveries, lambda config: 3600),
)


def start_scheduler(app: Flask):
    """Start the periodic jobs once per process (a second call is a no-op)."""
    return scheduler.start(app, PERIODIC_JOBS)


def stop_scheduler(app: Flask) -> None:
    """Stop the periodic jobs, if running, and keep the hits counted since the last flush."""
    scheduler.stop(app)
    with app.app_context():
        flush_access_counts()
        db.session.remove()
