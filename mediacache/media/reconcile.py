"""Disk and database made to agree: at start-up (recovery after a restart or crash) and hourly.

Lost files are re-queued or marked purged, files left mid-move are moved on, folders of
entries the database does not know are quarantined (never deleted), and on start the jobs a
stop interrupted are queued again.
"""

from __future__ import annotations

import logging
import shutil

from flask import Flask, current_app
from sqlalchemy import select

from ..core.states import RETAINED_STATES, RUNNING_STATES, WORKING_STATES, CacheState, Status
from ..core.timeutil import utcnow
from ..db import media_repo
from ..db.extensions import db
from ..db.models import Media
from ..jobs.runner import get_runner
from . import storage
from .encode import measure_unmeasured_files
from .lifecycle import purge_entry_files

log = logging.getLogger(__name__)


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


def recover_on_start(app: Flask) -> dict[str, int]:
    """After a restart or crash: no leftovers, no half-done rows, every interrupted job queued again."""
    with app.app_context():
        temp_removed = storage.remove_all_temp_dirs() + storage.remove_staging_leftovers()
        reset = media_repo.change_all(
            Media.status.in_(WORKING_STATES), status=Status.PENDING, progress=None, updated_at=utcnow()
        )
        db.session.commit()
        reconciled = reconcile_storage()
        measuring = measure_unmeasured_files(app)
        db.session.remove()
    resubmitted = get_runner(app).resubmit_pending()
    summary = {"temp_removed": temp_removed, "reset": reset, "resubmitted": resubmitted, **reconciled,
               "loudness_measuring": measuring}  # fmt: skip
    if any(summary.values()):
        log.info("start-up recovery: %s", summary)
    return summary
