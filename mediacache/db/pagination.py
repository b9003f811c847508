"""The list envelope shared by every listing route."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, func, select

from .extensions import db

MAX_LIMIT = 100


def paginate(query: Select, page: int, limit: int, render: Callable[[Any], dict]) -> dict[str, Any]:
    """Run one page of ``query`` and wrap it as ``{"items", "pagination"}``."""
    limit = min(limit, MAX_LIMIT)
    total = count_rows(query)
    rows = db.session.scalars(query.limit(limit).offset((page - 1) * limit)).all()
    return envelope([render(row) for row in rows], page, limit, total)


def count_rows(query: Select) -> int:
    """How many rows ``query`` matches, whatever its order."""
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def envelope(items: list[dict], page: int, limit: int, total: int) -> dict[str, Any]:
    """The list envelope of API.md."""
    pages = math.ceil(total / limit) if total else 0
    return {
        "items": items,
        "pagination": {
            "page": page,
            "limit": limit,
            "total": total,
            "pages": pages,
            "has_next": page < pages,
            "has_prev": page > 1,
        },
    }
