"""The media object of API.md, rendered fast: a poll loop asks for it many times a second.

``MediaSchema`` (web/schemas/media.py) documents this shape for the OpenAPI document; a test keeps
the two in step. Rendering works from a snapshot of the row (plain values), which the
row cache can hold between requests.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from flask import Flask, current_app, has_app_context
from sqlalchemy import inspect
from werkzeug.wsgi import get_host

from ..core.refreshing import Refreshing
from ..core.states import RUNNING_STATES, Status, is_valid
from ..core.timeutil import isoformat, utcnow
from ..db import media_repo
from ..db.extensions import db
from ..db.models import Media
from ..jobs.runner import get_runner
from .hits import get_access_counter

# Clients poll until "completed" or "failed" (API.md), so a cancelled job is shown as failed with this
# code; the row keeps "cancelled", which retry and the job's own bookkeeping go by.
CANCELLED_ERROR = {"code": "CANCELLED", "message": "The job was cancelled; queue the URL again or retry the entry."}
COLUMNS = tuple(column.key for column in inspect(Media).column_attrs)
SNAPSHOT_LIFETIME = 1.0
EXTENSION_KEY = "mediacache.rows"
MAX_DOCUMENTS = 10_000


def snapshot(media: Media) -> dict[str, Any]:
    """The row's values, detached from any session."""
    return {name: getattr(media, name) for name in COLUMNS}


def is_valid_row(row: dict[str, Any] | Media) -> bool:
    """Whether the entry's file is being served right now (core.states.is_valid)."""
    get = row.get if isinstance(row, dict) else row.__getattribute__
    return is_valid(get("status"), get("cache_state"), get("expires_at"), utcnow())


def public_roots(environ: dict | None, app: Flask | None = None) -> tuple[str, ...]:
    """Where files are reachable, each ending in ``/`` so that ``<root><id>/<file>`` is a file's URL.

    The external endpoints (CDN roots) come first, then the public URL's ``/cache/`` (else
    the host asked under, taken from the request's WSGI ``environ``; None: not asked by a request).
    """
    config = (app or current_app).config
    asked = _NOT_ASKED
    if environ is not None:
        get = environ.get
        asked = (environ["wsgi.url_scheme"], get("HTTP_HOST"), get("SERVER_NAME"), get("SERVER_PORT"))
    return _roots(config["PUBLIC_URL"], tuple(config["EXTERNAL_ENDPOINTS"]), *asked)


_NOT_ASKED = (None, None, None, None)
# A Host header as RFC 9110 allows it (and "_", as container names have): a name or IPv4 address, or a
# bracketed IPv6 one, and a port.
# Anything else ("a/b?c#d", "@evil", a port past 65535) would make endpoints like "http:/cache/…".
_VALID_HOST = re.compile(
    r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
    r"|\[[0-9A-Fa-f:.]+\])(?::(?:6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]?\d{1,4}))?",
    re.ASCII,
)


@lru_cache(maxsize=256)
def _roots(
    public_url: str | None,
    external: tuple[str, ...],
    scheme: str | None,
    http_host: str | None,
    server_name: str | None,
    server_port: str | None,
) -> tuple[str, ...]:
    # What request.host_url and the settings give, worked out once per host asked under, not per poll.
    asked = None
    if scheme is not None:
        environ = {"wsgi.url_scheme": scheme, "SERVER_NAME": server_name, "SERVER_PORT": server_port}
        if http_host is not None and _VALID_HOST.fullmatch(http_host):
            environ["HTTP_HOST"] = http_host  # else as a request without one: the server's own name
        asked = f"{scheme}://{get_host(environ)}"
    primary = public_url or asked
    # As in the original service, an external endpoint maps straight onto static_cache/ (a CDN or
    # another server in front of that folder), with one slash before the id whatever was written.
    roots = [root.rstrip("/") + "/" for root in external]
    if primary:
        roots.append(primary.rstrip("/") + "/cache/")
    return tuple(dict.fromkeys(roots))


def web_path(row: dict[str, Any]) -> str | None:
    """``/cache/<id>/<file>`` while the entry is served, else None."""
    if not (row["file_name"] and is_valid_row(row)):
        return None
    return f"/cache/{row['id']}/{quote(row['file_name'])}"


def render_media(row: dict[str, Any] | Media, roots: tuple[str, ...]) -> dict[str, Any]:
    """The media object of API.md for one entry, its files under ``roots`` (``public_roots``)."""
    if isinstance(row, Media):
        row = snapshot(row)

    path = web_path(row)
    progress = None
    if row["status"] in RUNNING_STATES:
        progress = get_runner(current_app).live_progress(row["id"]) or row["progress"]
    pending_hits, last_hit = get_access_counter().pending(row["id"])
    status = row["status"]
    error = {"code": row["error_code"], "message": row["error_message"]} if row["error_code"] else None
    if status == Status.CANCELLED:
        status, error = "failed", dict(CANCELLED_ERROR)
    return {
        "id": row["id"],
        "url": row["url"],
        "status": status,
        "valid": path is not None,
        "cache_state": row["cache_state"],
        "path": path,
        "endpoints": [root + path.removeprefix("/cache/") for root in roots] if path else [],
        "profile": row["profile"],
        "bitrate": row["bitrate"],
        "resolution": row["resolution"],
        # The variant's edits (issue 19): the loudness target and the clip, in seconds.
        "normalize": row.get("normalize_lufs"),
        "start": None if row.get("clip_start_ms") is None else row["clip_start_ms"] / 1000,
        "end": None if row.get("clip_end_ms") is None else row["clip_end_ms"] / 1000,
        "extension": row["extension"],
        "mime_type": row["mime_type"],
        "size_bytes": row["size_bytes"],
        "length_ms": row["length_ms"],
        "metadata": row["media_metadata"],
        "progress": progress,
        "error": error,
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


def media_document(app: Flask, row: dict[str, Any], roots: tuple[str, ...]) -> bytes:
    """The entry's media object as JSON, rendered once per row snapshot while nothing it shows changes.

    A game server polls a finished entry many times a second; the answer only changes when
    the row does (a new snapshot), a file hit is counted, the host asked under differs, or
    the TTL runs out. A running job's progress changes all the time, so it is never kept.
    Needs no app context: one is pushed only to render.
    """
    key = (row["id"], roots, get_access_counter(app).pending(row["id"]))
    documents = row_cache(app).documents
    cached = documents.get(key)
    now = utcnow()
    if cached is not None and cached[0] is row and now < cached[1]:
        return cached[2]
    with nullcontext() if has_app_context() else app.app_context():
        document = app.json.response(render_media(row, roots)).get_data()
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
        # What snapshot lifetimes are measured on; a test moves it on to let every snapshot lapse.
        self.clock: Callable[[], float] = time.monotonic
        self._refreshing = Refreshing(clock=lambda: self.clock())
        # Rendered documents, each tied to the snapshot it came from (see media_document).
        self.documents: dict[tuple, tuple[dict[str, Any], datetime, bytes]] = {}
        app.extensions[EXTENSION_KEY] = self
        # Every write of a media row goes through db/media_repo.py, which drops these copies.
        media_repo.on_write(app, self._invalidate)

    def _invalidate(self) -> None:
        with self._lock:
            self._rows.clear()
            self._generation += 1

    def get(self, media_id: str, app: Flask | None = None) -> dict[str, Any] | None:
        """The entry's snapshot, or None if there is no such entry.

        Outside an app context, give the app: a context is pushed only to read the database.
        """
        now = self.clock()
        cached = self._rows.get(media_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        if app is None or has_app_context():
            return self._load(media_id, now)
        with app.app_context():
            return self._load(media_id, now)

    def fresh(self, media_id: str, *, or_stale: bool = False) -> dict[str, Any] | None:
        """The entry's snapshot if memory holds a fresh one; None means read it (also for an entry known not to exist).

        ``or_stale``: a stale snapshot will do while another caller reads it afresh. The
        first caller after it goes stale gets None and reads; the others keep answering.
        Otherwise every poll of a busy entry on the main loop would go to a thread at once,
        each second, until one of them had read it.
        """
        cached = self._rows.get(media_id)
        if cached is None:
            return None
        fresh = cached[0] > self.clock()
        if self._refreshing.may_use(media_id, fresh=fresh, or_stale=or_stale) and self._rows.get(media_id) is cached:
            return cached[1]  # fresh, or being read afresh by another caller (and not replaced since)
        return None

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
