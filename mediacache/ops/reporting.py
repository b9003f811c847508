"""Stats and request logs: what the service did, for /api/stats, /api/logs and the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from ..core.profiles import PROFILES
from ..core.states import Status
from ..core.timeutil import isoformat, utcnow
from ..db.extensions import db
from ..db.models import DailyServed, Media, RequestLog
from ..db.pagination import paginate
from ..media.stats import cache_stats
from .logging import escape_controls

MAX_TEXT_LOG_LINES = 10_000


def conversion_stats() -> dict[str, Any]:
    """Counts by profile, by file format and by status, and the cache's counts and bytes."""
    by_profile = dict(db.session.execute(select(Media.profile, func.count()).group_by(Media.profile)).all())
    by_status: dict[str, int] = {}
    for status, count in db.session.execute(select(Media.status, func.count()).group_by(Media.status)).all():
        status = Status.FAILED if status == Status.CANCELLED else status  # as the media object shows it
        by_status[status] = by_status.get(status, 0) + count
    by_format: dict[str, int] = {}
    for profile, count in by_profile.items():
        extension = PROFILES[profile].extension if profile in PROFILES else profile
        by_format[extension] = by_format.get(extension, 0) + count
    total = db.session.scalar(select(func.count()).where(Media.completed_at.is_not(None))) or 0
    cache = cache_stats()
    return {
        "status": "success",
        "total_conversions": total,
        "by_profile": by_profile,
        "by_format": by_format,
        "by_status": by_status,
        "cache": {key: cache[key] for key in ("live", "expired", "deleted", "purged", "bytes_live", "bytes_private")},
    }


def daily_activity(days: int) -> dict[str, Any]:
    """Queue calls and file hits per UTC day over the last ``days`` days (today included), oldest first."""
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    day = func.date(RequestLog.created_at)
    queued_rows = db.session.execute(
        select(day, func.count()).where(RequestLog.created_at >= datetime(first.year, first.month, first.day))
        .group_by(day)
    ).all()  # fmt: skip
    queued = {str(when): count for when, count in queued_rows}
    served = {
        str(row.day): row.hits for row in db.session.scalars(select(DailyServed).where(DailyServed.day >= first)).all()
    }
    series = []
    for offset in range(days):
        key = (first + timedelta(days=offset)).isoformat()
        series.append({"date": key, "queued": queued.get(key, 0), "served": served.get(key, 0)})
    return {"days": days, "from": first.isoformat(), "to": today.isoformat(), "series": series}


def _log_query(username: str | None, since: datetime | None, until: datetime | None, media_id: str | None = None):
    query = select(RequestLog).order_by(RequestLog.created_at.desc(), RequestLog.id.desc())
    if username is not None:
        query = query.where(RequestLog.username == username)
    if media_id is not None:
        query = query.where(RequestLog.media_id == media_id)
    if since is not None:
        query = query.where(RequestLog.created_at >= since)
    if until is not None:
        query = query.where(RequestLog.created_at <= until)
    return query


def render_log_entry(entry: RequestLog) -> dict[str, Any]:
    """One request-log row as JSON."""
    return {
        "time": isoformat(entry.created_at),
        "user": entry.username,
        "media_id": entry.media_id,
        "url": entry.url,
        "profile": entry.profile,
        "status": entry.status_code,
        "outcome": entry.outcome,
        "extra": entry.extra,
    }


def request_log_page(username: str | None, since, until, page: int, limit: int, media_id=None) -> dict[str, Any]:
    """One page of the request log as the list envelope (one entry's lines with ``media_id``)."""
    return paginate(_log_query(username, since, until, media_id), page, limit, render_log_entry)


def request_log_text(username: str | None, since, until, media_id=None) -> str:
    """The request log as one readable line per request, newest first."""
    rows = db.session.scalars(_log_query(username, since, until, media_id).limit(MAX_TEXT_LOG_LINES)).all()
    lines = []
    for entry in rows:
        extra = f" extra={json.dumps(entry.extra, ensure_ascii=False, sort_keys=True)}" if entry.extra else ""
        # A URL or a note with a line break or a bidi override in it must not forge or disguise a line.
        lines.append(escape_controls(
            f"{isoformat(entry.created_at)} {entry.username or '-'} {entry.status_code} {entry.outcome} "
            f"{entry.profile or '-'} {entry.media_id or '-'} {entry.url}{extra}"
        ))  # fmt: skip
    return "\n".join(lines) + ("\n" if lines else "")
