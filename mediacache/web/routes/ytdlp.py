"""Metadata without downloading: ``/api/ytdlp``."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from ...db.extensions import limiter
from ...media import lookup
from ..access import login_required, per_user_key
from ..openapi import Metadata, documented
from ..params import load
from ..schemas import LookupSchema

bp = Blueprint("ytdlp", __name__, url_prefix="/api/ytdlp")

LOOKUP_ERRORS = ("INVALID_URL", "UNSUPPORTED_SCHEME", "URL_NOT_ALLOWED", "UNSUPPORTED_URL", "MEDIA_UNAVAILABLE",
                 "ACCESS_DENIED_PRIVATE", "ACCESS_DENIED_AGE_RESTRICTED", "UPSTREAM_ERROR", "UPSTREAM_TIMEOUT",
                 "RATE_LIMITED", "TOO_LARGE")  # fmt: skip


# One view, two routes: ``/api/ytdlp?url=…``, or ``/api/ytdlp/<ref>`` for a cache entry's id or a YouTube id.
@bp.route("", methods=["GET", "POST"])
@bp.route("/<ref>", methods=["GET", "POST"])
@login_required
@limiter.limit(lambda: current_app.config["LOOKUP_RATE_LIMIT"], key_func=per_user_key)
@documented(
    "Metadata without downloading (url, or a cache entry's id or YouTube id in the path): an object, "
    "or a list for a playlist/feed (raw=true: yt-dlp's JSON)",
    params=LookupSchema,
    response=Metadata,
    errors=LOOKUP_ERRORS,
)
def lookup_metadata(ref: str | None = None):
    """Normalized metadata: an object, or a list for a playlist/feed."""
    args = load(LookupSchema())
    url = lookup.url_for_reference(ref) if ref is not None else args["url"]
    return jsonify(lookup.lookup(url, raw=args["raw"], clean=not args["dont_clean_title"]))
