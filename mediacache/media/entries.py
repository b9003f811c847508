"""Entries once they exist: found by id, viewed, listed, and deleted (soft, hard, or the row too).

Queueing, reuse, restore and retry are queueing.py's; what happens to an entry's file over
time is lifecycle.py's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import not_, or_, select

from ..core.errors import DomainError, shown
from ..core.locking import entry_lock
from ..core.principal import Principal
from ..core.states import RETRYABLE_STATES, RUNNING_STATES, CacheState, Status
from ..core.timeutil import utcnow
from ..db import media_repo
from ..db.audit import record_activity
from ..db.extensions import db
from ..db.models import Media
from ..db.pagination import MAX_LIMIT, count_rows, envelope
from ..db.settings import get_setting
from ..jobs.runner import get_runner
from . import events, storage
from .render import is_valid_row, media_document, row_cache, snapshot


def get_entry(media_id: str) -> Media:
    """An entry by id, else 404."""
    media = db.session.get(Media, media_id) if len(media_id) <= 36 else None
    if media is None:
        raise DomainError("NOT_FOUND", f"No media entry {shown(media_id)}.")
    return media


def find_servable(app: Flask, media_id: str, file_name: str) -> dict[str, Any] | None:
    """The entry behind a public file URL, if that file is being served right now (no app context needed)."""
    row = row_cache(app).get(media_id, app) if storage.is_entry_id(media_id) else None
    if row is None or row["file_name"] != file_name or not is_valid_row(row):
        return None
    return row


def media_view(media_id: str, roots: tuple[str, ...]) -> tuple[bytes, bool]:
    """The media object of one entry as JSON, else 404 (from the row cache: polls are frequent); and whether it runs."""
    row = row_cache().get(media_id) if len(media_id) <= 36 else None
    if row is None:
        raise DomainError("NOT_FOUND", f"No media entry {shown(media_id)}.")
    return media_document(current_app, row, roots), row["status"] in RUNNING_STATES


def list_entries(filters: dict[str, Any], render) -> dict[str, Any]:
    """One page of entries, filtered and sorted as the client asked."""
    query = select(Media)
    for name in ("cache_state", "profile", "requested_by"):
        if name in filters:
            query = query.where(getattr(Media, name) == filters[name])
    if "status" in filters:
        # A cancelled entry is shown as failed, so asking for the failed ones finds it too.
        wanted = RETRYABLE_STATES if filters["status"] == Status.FAILED else (filters["status"],)
        query = query.where(Media.status.in_(wanted))
    if "valid" in filters:
        query = query.where(
            media_repo.valid_clause(utcnow()) if filters["valid"] else not_(media_repo.valid_clause(utcnow()))
        )
    if filters.get("q"):
        pattern = f"%{filters['q']}%"
        query = query.where(or_(
            Media.url.ilike(pattern),
            Media.media_metadata["title"].as_string().ilike(pattern),
            Media.media_metadata["artist"].as_string().ilike(pattern),
        ))  # fmt: skip
    sort = filters["sort"]
    column = getattr(Media, sort.lstrip("-"))
    # The tie-breaker follows the sort's direction, so an index on (column, id) serves both.
    order = (column.desc(), Media.id.desc()) if sort.startswith("-") else (column.asc(), Media.id.asc())
    ids_query = query.with_only_columns(Media.id).order_by(*order)
    limit = min(filters["limit"], MAX_LIMIT)
    # Page through ids alone (an index walk), then load only the rows of this page.
    page_ids = db.session.scalars(ids_query.limit(limit).offset((filters["page"] - 1) * limit)).all()
    rows = {media.id: media for media in db.session.scalars(select(Media).where(Media.id.in_(page_ids)))}
    items = [render(rows[media_id]) for media_id in page_ids if media_id in rows]
    return envelope(items, filters["page"], limit, count_rows(ids_query))


def require_owner(user: Principal, media: Media, action: str) -> None:
    """Who may change an entry: whoever requested it, or an admin (reading is open to every account)."""
    if not user.is_admin and media.requested_by != user.username:
        raise DomainError("FORBIDDEN", f"You may {action} only entries you requested.")


def delete(user: Principal, media_id: str, *, hard: bool, force: bool, remove_row: bool = False) -> None:
    """Stop serving an entry's file: keep it privately (soft) or remove it (hard), and the row too if asked."""
    with entry_lock(media_id):
        media = get_entry(media_id)
        before = snapshot(media)
        _delete(user, media, hard=hard or remove_row, force=force, remove_row=remove_row)
        events.publish_entry_deleted(media_id, before)  # after the commit: long-polls and event streams hear of it


def _delete(user: Principal, media: Media, *, hard: bool, force: bool, remove_row: bool) -> None:
    require_owner(user, media, "delete")
    if media.status in RUNNING_STATES:
        if not force:
            raise DomainError("JOB_RUNNING", "The job is still running; pass force=true to cancel it.")
        _conditional(media.id, Media.status.in_(RUNNING_STATES), status=Status.CANCELLED, progress=None)
        get_runner(current_app).cancel(media.id)
    if hard:
        _delete_hard(media.id)
    else:
        _delete_soft(media.id)
    if remove_row:
        # The original service's hard=entry. A job cancelled above finds no row to finish on,
        # and removes whatever file it was about to publish (pipeline).
        media_repo.remove(media.id)
    record_activity("media_deleted", actor=user.username, target=media.id, hard="entry" if remove_row else hard,
                    url=media.url)  # fmt: skip
    db.session.commit()


def hard_delete(media_id: str) -> None:
    """Remove an entry's files at once, cancelling its job if one runs (the CLI's purge --id)."""
    with entry_lock(media_id):
        get_entry(media_id)
        if _conditional(media_id, Media.status.in_(RUNNING_STATES), status=Status.CANCELLED, progress=None):
            get_runner(current_app).cancel(media_id)
        _delete_hard(media_id)


def _delete_soft(media_id: str) -> None:
    """Claim the state change first; only the request that wins it moves the file."""
    now = utcnow()
    retained_until = now + timedelta(days=get_setting("retention_days"))
    claimed = _conditional(media_id, Media.cache_state == CacheState.LIVE,
                           cache_state=CacheState.DELETED, deleted_at=now, retained_until=retained_until)  # fmt: skip
    if claimed:
        storage.move_to_private(media_id)
        return
    if not _conditional(
        media_id, Media.cache_state == CacheState.EXPIRED, cache_state=CacheState.DELETED, deleted_at=now
    ):
        _conditional(media_id, Media.deleted_at.is_(None), deleted_at=now)


def _delete_hard(media_id: str) -> None:
    now = utcnow()
    _conditional(
        media_id,
        Media.cache_state != CacheState.NONE,
        cache_state=CacheState.PURGED,
        retained_until=None,
        deleted_at=now,
    )
    _conditional(media_id, Media.deleted_at.is_(None), deleted_at=now)
    storage.delete_files(media_id)


def _conditional(media_id: str, condition, **values: Any) -> bool:
    """Update the row only if ``condition`` still holds; True if it did."""
    changed = media_repo.change(media_id, condition, updated_at=utcnow(), **values)
    db.session.commit()
    return changed
