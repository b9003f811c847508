"""Metadata without downloading: ``/api/ytdlp``."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ...media import lookup
from ..access import limited_per_account, login_required
from ..openapi import documented
from ..params import load
from ..schemas.media import LookupSchema, LookupUrlSchema, Metadata

bp = Blueprint("ytdlp", __name__, url_prefix="/api/ytdlp")
# What /api/ytdlp/<ref> takes: an entry id (a UUID) or a YouTube video id.
ENTRY_OR_VIDEO_ID = r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-z0-9_-]{11})$"

LOOKUP_ERRORS = ("INVALID_URL", "UNSUPPORTED_SCHEME", "URL_NOT_ALLOWED", "UNSUPPORTED_URL", "MEDIA_UNAVAILABLE",
                 "ACCESS_DENIED_PRIVATE", "ACCESS_DENIED_AGE_RESTRICTED", "UPSTREAM_ERROR", "UPSTREAM_TIMEOUT",
                 "RATE_LIMITED", "TOO_LARGE")  # fmt: skip


# One view, two routes: ``/api/ytdlp?url=…``, or ``/api/ytdlp/<ref>`` for a cache entry's id or a YouTube id.
@bp.route("", methods=["GET", "POST"])
@bp.route("/<ref>", methods=["GET", "POST"])
@login_required
@limited_per_account("lookups_per_minute", "LOOKUP_RATE_LIMIT")
@documented(
    "Metadata without downloading (url, or a cache entry's id or YouTube id in the path): an object, "
    "or a list for a playlist/feed (raw=true: yt-dlp's JSON)",
    params=LookupSchema,
    rule_params={"/api/ytdlp": LookupUrlSchema},
    path_schemas={"ref": {"type": "string", "pattern": ENTRY_OR_VIDEO_ID,
                          "description": "A cache entry's id or a YouTube video id"}},
    response=Metadata,
    errors=(*LOOKUP_ERRORS, "NOT_FOUND"),
)  # fmt: skip
def lookup_metadata(ref: str | None = None):
    """Normalized metadata: an object, or a list for a playlist/feed."""
    args = load(LookupSchema())
    url = lookup.url_for_reference(ref) if ref is not None else args["url"]
    return jsonify(lookup.lookup(url, raw=args["raw"], clean=not args["dont_clean_title"]))
