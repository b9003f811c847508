"""The audit log: who did what, from where."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from .extensions import db
from .models import Activity


def record_activity(action: str, *, actor: str | None, target: str | None = None, **details: Any) -> None:
    """Add an audit entry to the session; the caller's commit makes it durable."""
    address = request.remote_addr if has_request_context() else None
    db.session.add(Activity(action=action, actor=actor, target=target, address=address, details=details))
