"""Every write of a Media row, and the drop of cached copies that goes with it.

Reads of a row are cached in memory for about a second (media/render.py's RowCache, for the
poll loop). Whatever writes a row must drop those copies, so every write goes through the
functions here: each drops them at once, and once more after the commit (a read between the
write and its commit saw the old row). Owners of caches register with ``on_write``.

"Valid" is defined in core/states.py; ``valid_clause`` is its SQL form (a test holds them equal).

Whoever must act in the same transaction as an entry reaching a final state (the webhook outbox)
registers with ``on_final``: ``change`` calls it after the row changed and before anyone commits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import and_, delete, event, or_, update
from sqlalchemy.orm import Session

from ..core.states import FINAL_STATES, VALID_CACHE_STATE, VALID_STATUS
from .extensions import db
from .models import Media

WRITE_LISTENERS = "mediacache.media_writes"
FINAL_LISTENERS = "mediacache.media_final"
_DROP_AFTER_COMMIT = "mediacache.drop_after_commit"


def on_write(app: Flask, drop: Callable[[], None]) -> None:
    """Have ``drop`` called whenever this app writes a media row (and again once that write is committed)."""
    app.extensions.setdefault(WRITE_LISTENERS, []).append(drop)


def on_final(app: Flask, listener: Callable[[str, str], None]) -> None:
    """Have ``listener(media_id, status)`` called when ``change`` sets a final status (inside that transaction)."""
    app.extensions.setdefault(FINAL_LISTENERS, []).append(listener)


def add(media: Media) -> Media:
    """A new row, inserted with the session's next flush or commit."""
    db.session.add(media)
    _wrote()
    return media


def change(media_id: str, *conditions: Any, **values: Any) -> bool:
    """Set ``values`` on the row if it still meets ``conditions`` (a conditional update); True if it did."""
    changed = change_all(Media.id == media_id, *conditions, **values) == 1
    if changed and values.get("status") in FINAL_STATES:
        for listener in current_app.extensions.get(FINAL_LISTENERS, ()):
            listener(media_id, values["status"])
    return changed


def change_all(*conditions: Any, **values: Any) -> int:
    """Set ``values`` on every row that meets ``conditions``; how many did."""
    changed = db.session.execute(update(Media).where(*conditions).values(**values)).rowcount
    _wrote()
    return changed


def remove(media_id: str) -> None:
    """Delete the row (hard=entry); its job, if one still runs, finds nothing to finish on."""
    db.session.execute(delete(Media).where(Media.id == media_id))
    _wrote()


def valid_clause(now: datetime):
    """SQL for core.states.is_valid: the entry's file is being served at ``now``."""
    return and_(
        Media.status == VALID_STATUS,
        Media.cache_state == VALID_CACHE_STATE,
        or_(Media.expires_at.is_(None), Media.expires_at > now),
    )


def _wrote() -> None:
    drops = current_app.extensions.get(WRITE_LISTENERS, ())
    for drop in drops:
        drop()
    db.session.info[_DROP_AFTER_COMMIT] = drops


@event.listens_for(Session, "after_commit")
def _drop_after_commit(session: Session) -> None:
    for drop in session.info.pop(_DROP_AFTER_COMMIT, ()):
        drop()


@event.listens_for(Session, "after_rollback")
def _nothing_to_drop_after_rollback(session: Session) -> None:
    session.info.pop(_DROP_AFTER_COMMIT, None)
