"""Service routes: liveness and what this server offers."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, current_app, jsonify

from ...core.edits import MAX_TARGET_LUFS, MIN_TARGET_LUFS
from ...core.profiles import PROFILES
from ...core.timeutil import isoformat, utcnow
from ...db.pagination import MAX_LIMIT
from ...db.settings import get_setting, overrides_in_memory
from ...media.render import public_roots
from ...media.stats import recent_cache_stats
from ...version import __version__
from ..fastpath import json_answer
from ..openapi import documented
from ..params import request_roots
from ..schemas.media import MAX_EXTRA_BYTES
from ..schemas.service import ServiceInfo

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

bp = Blueprint("system", __name__)


@bp.get("/api/ping")
@documented("The server answers", auth="none")
def ping():
    """The server answers."""
    return jsonify(status="ok", message="server is alive")


@bp.get("/health")
@documented("Liveness for process supervisors", auth="none")
def liveness():
    """Liveness for process supervisors; touches nothing."""
    return jsonify(status="ok", timestamp=isoformat(utcnow()))


SERVICE_RULES = ("/api", "/api/")
_DOCUMENTS = "mediacache.service_documents"
MAX_DOCUMENTS = 64  # one per set of file roots, i.e. per Host asked under without a PUBLIC_URL


@bp.get("/api")
@bp.get("/api/")
@documented("What this server offers: profiles by name, limits, file roots, cache counts (up to a second old)",
            response=ServiceInfo, auth="none")  # fmt: skip
def service_info():
    """What this server offers: profiles, limits, where files are served, cache counts (from memory, no query)."""
    app = current_app._get_current_object()
    stats, fresh_until = recent_cache_stats()
    get_setting("max_ttl")  # the overrides are in memory from here on
    overrides = overrides_in_memory(app)
    roots = request_roots()
    document = app.json.response(_service_info(stats, roots)).get_data()
    documents = app.extensions.setdefault(_DOCUMENTS, {})
    if len(documents) >= MAX_DOCUMENTS:
        documents.clear()
    # Kept for service_info_response while the counts are fresh and no setting has changed.
    documents[roots] = (fresh_until, overrides, document)
    return app.response_class(document, mimetype=app.json.mimetype)


def service_info_response(app: Flask, environ: dict) -> WSGIApplication | None:
    """The last ``GET /api`` answer for these file roots, as a WSGI app, while still true; else None (Flask renders).

    Needs no app context, so the server may give it from its main loop (``patches/waitress/mainloop.py``).
    """
    cached = app.extensions.get(_DOCUMENTS, {}).get(public_roots(environ, app))
    if cached is None:
        return None
    fresh_until, overrides, document = cached
    if fresh_until <= time.monotonic() or overrides is None or overrides_in_memory(app) is not overrides:
        return None
    return json_answer(document, app.json.mimetype)


def _service_info(stats: dict[str, Any], roots: tuple[str, ...]) -> dict[str, Any]:
    return dict(
        status="OK",
        version=__version__,
        # Keyed by name, as in the original service: clients look a profile up by its name.
        media_profiles={name: profile.describe() for name, profile in PROFILES.items()},
        default_profile=current_app.config["DEFAULT_PROFILE"],
        cache_stats=stats,
        cache_endpoints=list(roots),
        limits={
            "default_ttl": get_setting("default_ttl"),
            "max_ttl": get_setting("max_ttl"),
            "retention_days": get_setting("retention_days"),
            "max_duration": get_setting("max_duration"),
            "max_filesize": get_setting("max_filesize"),
            "workers": get_setting("workers"),
            "max_extra_bytes": MAX_EXTRA_BYTES,
            "max_page_size": MAX_LIMIT,
            "max_collection_items": current_app.config["MAX_COLLECTION_ITEMS"],
            # What normalize=true brings a file to, and the range a client's own target must be in (LUFS).
            "loudness_target": current_app.config["LOUDNESS_TARGET"],
            "loudness_targets": {"min": MIN_TARGET_LUFS, "max": MAX_TARGET_LUFS},
        },
    )
