"""Queueing an entry: a new row and its job, or the existing one reused, restored or run again; and retry.

One row per URL and variant: a queue call either creates it (201, its job submitted in the
same request), answers with it (409: queued or cached already), restores it without a
download (200: past its TTL or retained privately) or runs its job again (202). Every call
goes into the caller's request log. Reading, listing and deleting entries is entries.py's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..core import urls
from ..core.edits import settle_edits
from ..core.errors import DomainError
from ..core.locking import entry_lock
from ..core.principal import Principal
from ..core.profiles import Variant, resolve_variant
from ..core.states import RETAINED_STATES, RETRYABLE_STATES, RUNNING_STATES, CacheState, Status
from ..core.timeutil import utcnow
from ..db import media_repo
from ..db.extensions import db
from ..db.models import Media, RequestLog
from ..db.settings import get_setting
from ..jobs.runner import get_runner
from ..sources import netguard
from . import storage
from .capacity import make_room, typical_file_size
from .encode import measure_unmeasured_files
from .entries import get_entry, require_owner
from .render import is_valid_row


@dataclass
class QueueOutcome:
    """What a queue call did, for the route to render."""

    status: int
    media: Media
    error: DomainError | None = None
    extras: dict[str, Any] = field(default_factory=dict)


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
    if claimed and previous_state != CacheState.LIVE:
        measure_unmeasured_files(current_app, media.id)  # its measurement found no file while it was away
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


def retry(user: Principal, media_id: str) -> Media:
    """Queue a failed or cancelled entry again."""
    with entry_lock(media_id):
        return _retry(user, get_entry(media_id))


def _retry(user: Principal, media: Media) -> Media:
    require_owner(user, media, "retry")
    if media.status not in RETRYABLE_STATES:
        raise DomainError(
            "NOT_RETRYABLE", f"Only failed or cancelled entries can be retried; this one is {media.status}."
        )
    outcome = _requeue(media, media.ttl, media.dont_clean_title)
    if outcome.status != 202:
        raise DomainError("NOT_RETRYABLE", "The entry changed while retrying; fetch it again.")
    return outcome.media
