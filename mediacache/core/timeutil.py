"""UTC timestamps, stored naive in the database and rendered ISO 8601 with a Z."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time in UTC, naive (SQLite keeps no zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


def isoformat(moment: datetime | None) -> str | None:
    """Render a stored UTC time as ``2026-11-22T10:00:00Z``."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat() + "Z"
