"""The media object of API.md, rendered fast: a poll loop asks for it many times a second.

``MediaSchema`` (schemas.py) documents this shape for the OpenAPI document; a test keeps
the two in step. Rendering works from a snapshot of the row (plain values), which the
row cache can hold between requests.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from flask import Flask, current_app, g, has_app_context, has_request_context, request
from sqlalchemy import event, inspect
from werkzeug.wsgi import get_host

from .accounting import get_access_counter
from .extensions import db
from .models import Media
from .timeutil import isoformat, utcnow

RUNNING_STATES = ("pending", "downloading", "processing")
COLUMNS = tuple(column.key for column in inspect(Media).column_attrs)
SNAPSHOT_LIFETIME = 1.0
EXTENSION_KEY = "mediacache.rows"
MAX_DOCUMENTS = 10_000
_WROTE_MEDIA = "mediacache.wrote_media"


def snapshot(media: Media) -> dict[str, Any]:
    """The row's values, detached from any session."""
    return {name: getattr(media, name) for name in COLUMNS}


def is_valid_row(row: dict[str, Any] | Media) -> bool:
    """Whether the entry's file is being served right now."""
    get = row.get if isinstance(row, dict) else row.__getattribute__
    expires_at = get("expires_at")
    return (
        get("status") == "completed" and get("cache_state") == "live" and (expires_at is None or expires_at > utcnow())
    )


def public_roots() -> list[str]:
    """Base URLs the files are reachable under: the public URL (else this request's host), then CDN roots."""
    config = current_app.config
    primary = config["PUBLIC_URL"] or _asked_root()
    roots = [primary] if primary else []
    return [root.rstrip("/") for root in roots + config["EXTERNAL_ENDPOINTS"]]


def _asked_root() -> str | None:
    """scheme://host this request came in under: Flask's request, or the environ a shortcut left in ``g``."""
    environ = request.environ if has_request_context() else g.get("environ")
    return _request_root(environ["wsgi.url_scheme"], get_host(environ)) if environ is not None else None


@lru_cache(maxsize=64)
def _request_root(scheme: str, host: str) -> str:
    # What request.host_url gives, without rebuilding the URL on every poll.
    return f"{scheme}://{host}"


def web_path(row: dict[str, Any]) -> str | None:
    """``/cache/<id>/<file>`` while the entry is served, else None."""
    if not (row["file_name"] and is_valid_row(row)):
        return None
    return f"/cache/{row['id']}/{quote(row['file_name'])}"


def render_media(row: dict[str, Any] | Media) -> dict[str, Any]:
    """The media object of API.md for one entry."""
    if isinstance(row, Media):
        row = snapshot(row)
    from .jobs import get_runner

    path = web_path(row)
    progress = None
    if row["status"] in RUNNING_STATES:
        progress = get_runner(current_app).live_progress(row["id"]) or row["progress"]
    pending_hits, last_hit = get_access_counter().pending(row["id"])
    return {
        "id": row["id"],
        "url": row["url"],
        "status": row["status"],
        "valid": path is not None,
        "cache_state": row["cache_state"],
        "path": path,
        "endpoints": [root + path for root in public_roots()] if path else [],
        "profile": row["profile"],
        "bitrate": row["bitrate"],
        "resolution": row["resolution"],
        "extension": row["extension"],
        "mime_type": row["mime_type"],
        "size_bytes": row["size_bytes"],
        "length_ms": row["length_ms"],
        "metadata": row["media_metadata"],
        "progress": progress,
        "error": {"code": row["error_code"], "message": row["error_message"]} if row["error_code"] else None,
        "ttl": row["ttl"],
        "created_at": isoformat(row["created_at"]),
        "updated_at": isoformat(row["updated_at"]),
        "completed_at": isoformat(row["completed_at"]),
        "expires_at": isoformat(row["expires_at"]),
        "deleted_at": isoformat(row["deleted_at"]),
        "retained_until": isoformat(row["retained_until"]),
        "requested_by": row["requested_by"],
        "hits": (row["hits"] or 0) + pending_hits,
        "last_accessed_at": isoformat(last_hit or row["last_accessed_at"]),
    }


def media_document(row: dict[str, Any]) -> bytes:
    """The entry's media object as JSON, rendered once per row snapshot while nothing it shows changes.

    A game server polls a finished entry many times a second; the answer only changes when
    the row does (a new snapshot), a file hit is counted, the host asked under differs, or
    the TTL runs out. A running job's progress changes all the time, so it is never kept.
    """
    roots = tuple(public_roots())
    key = (row["id"], roots, get_access_counter().pending(row["id"]))
    documents = row_cache().documents
    cached = documents.get(key)
    now = utcnow()
    if cached is not None and cached[0] is row and now < cached[1]:
        return cached[2]
    document = current_app.json.response(render_media(row)).get_data()
    if row["status"] not in RUNNING_STATES:
        # "valid" and "path" flip when the TTL ends; the document must not outlive that.
        expires_at = row["expires_at"] if row["expires_at"] and row["expires_at"] > now else datetime.max
        if len(documents) >= MAX_DOCUMENTS:
            documents.clear()
        documents[key] = (row, expires_at, document)
    return document


def remaining_seconds(row: dict[str, Any]) -> int:
    """Seconds until the entry's TTL ends (0 if it has)."""
    if row["expires_at"] is None:
        return 0
    return max(0, math.floor((row["expires_at"] - utcnow()).total_seconds()))


class RowCache:
    """Entry snapshots for about a second, dropped the moment this process writes to the media table."""

    def __init__(self, app: Flask) -> None:
        self._rows: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every write, so a read that raced one is not kept
        # Rendered documents, each tied to the snapshot it came from (see media_document).
        self.documents: dict[tuple, tuple[dict[str, Any], datetime, bytes]] = {}
        app.extensions[EXTENSION_KEY] = self
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", self._on_statement)
            event.listen(db.engine, "checkin", self._on_connection_returned)

    def _on_statement(self, conn, _cursor, statement: str, *_args) -> None:
        # Any write to the media table, by any code path in this process, invalidates.
        if statement.startswith(("UPDATE media", "INSERT INTO media", "DELETE FROM media")):
            conn.info[_WROTE_MEDIA] = True
            self._invalidate()

    def _on_connection_returned(self, _dbapi_connection, record) -> None:
        # Once more after the commit: a read between the write and its commit saw the old row,
        # and must not be served for the rest of the snapshot's second.
        if record.info.pop(_WROTE_MEDIA, False):
            self._invalidate()

    def _invalidate(self) -> None:
        with self._lock:
            self._rows.clear()
            self._generation += 1

    def get(self, media_id: str, app: Flask | None = None) -> dict[str, Any] | None:
        """The entry's snapshot, or None if there is no such entry.

        Outside an app context, give the app: a context is pushed only to read the database.
        """
        now = time.monotonic()
        cached = self._rows.get(media_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        if app is None or has_app_context():
            return self._load(media_id, now)
        with app.app_context():
            return self._load(media_id, now)

    def _load(self, media_id: str, now: float) -> dict[str, Any] | None:
        generation = self._generation
        media = db.session.get(Media, media_id)
        row = snapshot(media) if media is not None else None
        with self._lock:
            if generation == self._generation:
                self._rows[media_id] = (now + SNAPSHOT_LIFETIME, row)
        return row


def row_cache(app: Flask | None = None) -> RowCache:
    """The app's row cache."""
    return (app or current_app).extensions[EXTENSION_KEY]
