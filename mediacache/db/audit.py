"""The audit log: who did what, from where.

"From where" is the client address of the request being handled, which web/ notes in
``client_address`` at the start of each request (and clears at its end): this module does
not read Flask's request.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from .extensions import db
from .models import Activity

client_address: ContextVar[str | None] = ContextVar("client_address", default=None)


def record_activity(action: str, *, actor: str | None, target: str | None = None, **details: Any) -> None:
    """Add an audit entry to the session; the caller's commit makes it durable."""
    address = client_address.get()
    db.session.add(Activity(action=action, actor=actor, target=target, address=address, details=details))
