"""What the cache holds: entry counts by cache state and bytes live and retained (GET /api, reports)."""

from __future__ import annotations

import time
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from ..core.refreshing import Refreshing
from ..db.extensions import db
from ..db.models import Media

RECENT_STATS_LIFETIME = 1.0  # how old GET /api's cache counts may be, in seconds
_RECENT_STATS = "mediacache.recent_cache_stats"


def recent_cache_stats() -> tuple[dict[str, Any], float]:
    """``cache_stats()`` from memory, at most ``RECENT_STATS_LIFETIME`` seconds old (``GET /api`` is asked often).

    Also returns the ``time.monotonic()`` until which they are fresh. When they go stale,
    one caller counts afresh while the others keep the previous counts.
    """
    memo = current_app.extensions.get(_RECENT_STATS)
    if memo is None:
        memo = current_app.extensions.setdefault(_RECENT_STATS, {"known": None, "refreshing": Refreshing()})
    known = memo["known"]  # (stats, fresh until), replaced whole so the two always belong together
    if known is not None:
        fresh = known[1] > time.monotonic()
        if memo["refreshing"].may_use(_RECENT_STATS, fresh=fresh, or_stale=True):
            return known
    known = memo["known"] = (cache_stats(), time.monotonic() + RECENT_STATS_LIFETIME)
    return known


def cache_stats() -> dict[str, Any]:
    """Entry counts by cache state and the bytes live and retained."""
    rows = db.session.execute(
        select(Media.cache_state, func.count(), func.coalesce(func.sum(Media.size_bytes), 0)).group_by(
            Media.cache_state
        )
    ).all()
    counts = {state: count for state, count, _ in rows}
    size = {state: total for state, _, total in rows}
    return {
        "total": sum(counts.values()),
        "live": counts.get("live", 0),
        "expired": counts.get("expired", 0),
        "deleted": counts.get("deleted", 0),
        "purged": counts.get("purged", 0),
        "bytes_live": int(size.get("live", 0)),
        "bytes_private": int(size.get("expired", 0)) + int(size.get("deleted", 0)),
    }
