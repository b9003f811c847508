"""Operations on cache entries that the media routes call: queue, read, list, delete, retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import func, not_, or_, select
from sqlalchemy.exc import IntegrityError

from ..core import urls
from ..core.edits import settle_edits
from ..core.errors import DomainError, shown
from ..core.locking import entry_lock
from ..core.principal import Principal
from ..core.profiles import Variant, resolve_variant
from ..core.states import RETAINED_STATES, RETRYABLE_STATES, RUNNING_STATES, CacheState, Status
from ..core.timeutil import utcnow
from ..db import media_repo
from ..db.audit import record_activity
from ..db.extensions import db
from ..db.models import Media, RequestLog
from ..db.pagination import MAX_LIMIT, count_rows, envelope
from ..db.settings import get_setting
from ..jobs.runner import get_runner
from ..sources import netguard
from . import events, storage
from .capacity import make_room, typical_file_size
from .render import is_valid_row, media_document, row_cache, snapshot


@dataclass
class QueueOutcome:
    """What a queue call did, for the route to render."""

    status: int
    media: Media
    error: DomainError | None = None
    extras: dict[str, Any] = field(default_factory=dict)


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


def check_options(args: dict[str, Any]) -> tuple[Variant, int]:
    """The variant and TTL a queue call's parameters ask for (all but the URL), else the 400 naming what is wrong."""
    return queue_variant(args), _settle_ttl(args["ttl"])


def queue(user: Principal, args: dict[str, Any], *, check_pending: bool = True) -> QueueOutcome:
    """Create, restore, re-queue or report the entry for a URL and variant.

    ``check_pending=False``: the caller has applied the pending cap already (a collection, once for all its items).
    """
    source_url = urls.check_url(args["url"])
    urls.refuse_playlist(source_url)
    variant, ttl = check_options(args)
    netguard.refuse_forbidden_target(source_url, current_app.config)
    url = urls.normalize_url(source_url)

    existing = db.session.scalar(select(Media).where(Media.url == url, Media.variant == variant.key))
    if existing is None:
        if check_pending:
            limit_pending(user)
        _require_room()
        media = Media(
            url=url, source_url=urls.fetch_url(source_url), variant=variant.key, profile=variant.profile.name,
            bitrate=variant.bitrate, resolution=variant.resolution, dont_clean_title=args["dont_clean_title"],
            normalize_lufs=variant.edits.normalize, clip_start_ms=variant.edits.start_ms,
            clip_end_ms=variant.edits.end_ms,
            ttl=ttl, requested_by=user.username, status=Status.PENDING, cache_state=CacheState.NONE,
        )  # fmt: skip
        media_repo.add(media)
        try:
            db.session.commit()
        except IntegrityError:
            # Another request created it between our look-up and our insert: it won, we report it.
            db.session.rollback()
            existing = db.session.scalar(select(Media).where(Media.url == url, Media.variant == variant.key))
        else:
            get_runner(current_app).submit(media.id)
            return _logged(user, args, QueueOutcome(201, media))
    with entry_lock(existing.id):
        db.session.refresh(existing)  # the state as it is now that no one else is deciding about it
        outcome = _reuse(existing, ttl, args["dont_clean_title"])
    return _logged(user, args, outcome)


def queue_variant(args: dict[str, Any]) -> Variant:
    """The variant a queue call's parameters ask for (profile, bitrate, resolution, normalize, start, end), checked.

    Every route that queues entries (the queue route, collections) settles them here.
    """
    edits = settle_edits(
        args.get("normalize"), args.get("start"), args.get("end"), current_app.config["LOUDNESS_TARGET"]
    )
    return resolve_variant(
        args.get("profile"), args.get("bitrate"), args.get("resolution"), current_app.config["DEFAULT_PROFILE"], edits
    )


def limit_pending(user: Principal) -> None:
    """A user may have at most MAX_PENDING_PER_USER jobs waiting or running at once (or the account's own cap)."""
    limit = user.limit("max_pending", current_app.config["MAX_PENDING_PER_USER"])
    if not limit:
        return
    running = db.session.scalar(
        select(func.count()).where(Media.requested_by == user.username, Media.status.in_(RUNNING_STATES))
    )
    if running >= limit:
        raise DomainError(
            "TOO_MANY_PENDING",
            f"You already have {running} jobs waiting or running (the limit is {limit}); "
            "queue more when some have finished.",
            retry_after=10,
        )


def _require_room() -> None:
    """New work needs room under MAX_CACHE_BYTES for a file of typical size (retained files are purged to make it)."""

    if not make_room(max(1, typical_file_size())):
        raise DomainError("STORAGE_FULL", "The cache is full of files still being served; try again when some expire.")


def _settle_ttl(requested: int | None) -> int:
    max_ttl = get_setting("max_ttl")
    ttl = get_setting("default_ttl") if requested is None else requested
    if not 1 <= ttl <= max_ttl:
        raise DomainError("INVALID_TTL", f"ttl must be between 1 and {max_ttl} seconds.")
    return min(ttl, max_ttl)


def _reuse(media: Media, ttl: int, dont_clean_title: bool) -> QueueOutcome:
    """An entry for this URL and variant exists: answer with it, restore it or run it again."""
    if media.status in RUNNING_STATES:
        return QueueOutcome(409, media, DomainError("ALREADY_QUEUED", "This media is already queued; poll its id."))
    if media.status == Status.COMPLETED:
        has_live_file = (
            media.cache_state == CacheState.LIVE and storage.live_file(media.id, media.file_name) is not None
        )
        if has_live_file and is_valid_row(media):
            return QueueOutcome(409, media, DomainError("ALREADY_CACHED", "This media is already cached."))
        # Past its TTL but not yet swept, or retained privately: serve it again without a download.
        restorable = has_live_file or (
            media.cache_state in RETAINED_STATES and storage.retained_file_exists(media.id, media.file_name)
        )
        if restorable and _restore(media, ttl):
            return QueueOutcome(200, media, extras={"restored": True})
    return _requeue(media, ttl, dont_clean_title)


def _restore(media: Media, ttl: int) -> bool:
    """Restart the TTL of a completed entry, moving its retained file back if it was moved away."""
    now = utcnow()
    previous_state, file_name = media.cache_state, media.file_name
    claimed = media_repo.change(
        media.id, Media.status == Status.COMPLETED, Media.cache_state == previous_state,
        cache_state=CacheState.LIVE, ttl=ttl, expires_at=now + timedelta(seconds=ttl), deleted_at=None,
        retained_until=None, updated_at=now,
    )  # fmt: skip
    db.session.commit()
    if claimed and previous_state != CacheState.LIVE and not storage.restore_from_private(media.id, file_name):
        db.session.refresh(media)  # the file vanished meanwhile: the caller re-queues from the new state
        return False
    db.session.refresh(media)
    return claimed


def _requeue(media: Media, ttl: int, dont_clean_title: bool) -> QueueOutcome:
    """A failed, cancelled, purged or lost entry: run its job again (202)."""
    _require_room()
    claimed = media_repo.change(
        media.id, Media.status == media.status, Media.cache_state == media.cache_state,
        status=Status.PENDING, cache_state=CacheState.NONE, ttl=ttl, dont_clean_title=dont_clean_title,
        error_code=None, error_message=None, progress=None, file_name=None, size_bytes=None,
        expires_at=None, completed_at=None, deleted_at=None, retained_until=None, updated_at=utcnow(),
        attempts=0, retry_at=None,
    )  # fmt: skip
    db.session.commit()
    db.session.refresh(media)
    if not claimed:
        # Someone else changed it first; report what it is now.
        return (
            _reuse(media, ttl, dont_clean_title)
            if media.status not in RUNNING_STATES
            else QueueOutcome(409, media, DomainError("ALREADY_QUEUED", "This media is already queued; poll its id."))
        )
    storage.delete_files(media.id)
    get_runner(current_app).submit(media.id)
    return QueueOutcome(202, media)


def _logged(user: Principal, args: dict[str, Any], outcome: QueueOutcome) -> QueueOutcome:
    """Every queue call goes into the caller's request log with its ``extra`` notes."""
    code = outcome.error.code if outcome.error else {201: "CREATED", 200: "RESTORED", 202: "REQUEUED"}[outcome.status]
    db.session.add(RequestLog(
        user_id=user.id, username=user.username, media_id=outcome.media.id, url=str(args["url"])[:2048],
        profile=outcome.media.profile, status_code=outcome.status, outcome=code, extra=args.get("extra"),
    ))  # fmt: skip
    db.session.commit()
    return outcome


def _require_owner(user: Principal, media: Media, action: str) -> None:
    """Who may change an entry: whoever requested it, or an admin (reading is open to every account)."""
    if not user.is_admin and media.requested_by != user.username:
        raise DomainError("FORBIDDEN", f"You may {action} only entries you requested.")


def retry(user: Principal, media_id: str) -> Media:
    """Queue a failed or cancelled entry again."""
    with entry_lock(media_id):
        return _retry(user, get_entry(media_id))


def _retry(user: Principal, media: Media) -> Media:
    _require_owner(user, media, "retry")
    if media.status not in RETRYABLE_STATES:
        raise DomainError(
            "NOT_RETRYABLE", f"Only failed or cancelled entries can be retried; this one is {media.status}."
        )
    outcome = _requeue(media, media.ttl, media.dont_clean_title)
    if outcome.status != 202:
        raise DomainError("NOT_RETRYABLE", "The entry changed while retrying; fetch it again.")
    return outcome.media


def delete(user: Principal, media_id: str, *, hard: bool, force: bool, remove_row: bool = False) -> None:
    """Stop serving an entry's file: keep it privately (soft) or remove it (hard), and the row too if asked."""
    with entry_lock(media_id):
        media = get_entry(media_id)
        before = snapshot(media)
        _delete(user, media, hard=hard or remove_row, force=force, remove_row=remove_row)
        events.publish_entry_deleted(media_id, before)  # after the commit: long-polls and event streams hear of it


def _delete(user: Principal, media: Media, *, hard: bool, force: bool, remove_row: bool) -> None:
    _require_owner(user, media, "delete")
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
