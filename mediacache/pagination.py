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
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.session.scalars(query.limit(limit).offset((page - 1) * limit)).all()
    pages = math.ceil(total / limit) if total else 0
    return {
        "items": [render(row) for row in rows],
        "pagination": {
            "page": page,
            "limit": limit,
            "total": total,
            "pages": pages,
            "has_next": page < pages,
            "has_prev": page > 1,
        },
    }
