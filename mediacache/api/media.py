"""The media cache routes: queue, read, list, delete, retry, download."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, send_file

from .. import entries, storage
from ..errors import NotFound, error_body
from ..extensions import limiter
from ..openapi import documented, page_of
from ..presenter import is_valid_row, render_media
from ..schemas import DeleteSchema, MediaFilterSchema, MediaSchema, QueueSchema
from ..tokens import remembered_caller
from .access import login_required, me, per_user_key
from .params import load

bp = Blueprint("media", __name__, url_prefix="/api/media")


@bp.post("/queue")
@login_required
@limiter.limit(lambda: current_app.config["QUEUE_RATE_LIMIT"], key_func=per_user_key)
@documented(
    "Queue a URL: 201 new, 409 existing (the entry at top level), 200 restored, 202 queued again",
    params=QueueSchema, response=MediaSchema, status=201,
    extra_responses={200: ("Restored from the private cache (restored: true).", MediaSchema),
                     202: ("Failed, purged or lost: queued again.", MediaSchema)},
    errors=("INVALID_URL", "UNSUPPORTED_SCHEME", "INVALID_PROFILE", "INVALID_BITRATE", "BITRATE_REQUIRES_PROFILE",
            "INVALID_RESOLUTION", "INVALID_TTL", "INVALID_EXTRA", "PLAYLIST_NOT_SUPPORTED", "URL_NOT_ALLOWED",
            "ALREADY_CACHED", "ALREADY_QUEUED", "RATE_LIMITED", "TOO_MANY_PENDING", "STORAGE_FULL"),
)  # fmt: skip
def queue():
    """Queue a URL for download and conversion (or report, restore or re-run its entry)."""
    outcome = entries.queue(me(), load(QueueSchema()))
    body = render_media(outcome.media) | outcome.extras
    if outcome.error is not None:
        body["error"] = error_body(outcome.error.code, outcome.error.message)["error"]
    response = jsonify(body)
    response.status_code = outcome.status
    if outcome.status == 201:
        response.headers["Location"] = f"/api/media/{outcome.media.id}"
    return response


@bp.get("")
@bp.get("/")
@login_required
@documented(
    "Entries, filtered, sorted and paginated",
    params=MediaFilterSchema,
    response=page_of(MediaSchema),
    errors=("VALIDATION_ERROR",),
)
def list_media():
    """Entries, filtered, sorted and paginated."""
    return jsonify(entries.list_entries(load(MediaFilterSchema()), render_media))


@bp.get("/<media_id>")
@login_required
@documented("One entry; poll it until completed or failed", response=MediaSchema, errors=("NOT_FOUND",))
def get_media(media_id: str):
    """One entry; poll this until status is completed or failed."""
    return _media_response(media_id)


POLL_RULE = "/api/media/<media_id>"


def poll_response(environ: dict, media_id: str) -> Response | None:
    """The poll answer for a token this process has already verified (the poll loop's case); else None."""
    return _media_response(media_id) if remembered_caller(environ) is not None else None


def _media_response(media_id: str) -> Response:
    return current_app.response_class(entries.media_view(media_id), mimetype=current_app.json.mimetype)


@bp.delete("/<media_id>")
@login_required
@documented(
    "Stop serving an entry (soft; hard=true removes the file; force=true cancels a running job)",
    params=DeleteSchema,
    status=204,
    errors=("NOT_FOUND", "FORBIDDEN", "JOB_RUNNING"),
)
def delete_media(media_id: str):
    """Stop serving an entry (soft by default; hard=true removes the file; force=true cancels a job)."""
    args = load(DeleteSchema())
    entries.delete(me(), media_id, hard=args["hard"], force=args["force"])
    return "", 204


@bp.post("/<media_id>/retry")
@login_required
@documented(
    "Queue a failed or cancelled entry again",
    response=MediaSchema,
    status=202,
    errors=("NOT_FOUND", "NOT_RETRYABLE", "STORAGE_FULL"),
)
def retry_media(media_id: str):
    """Queue a failed or cancelled entry again."""
    return jsonify(render_media(entries.retry(media_id))), 202


@bp.get("/<media_id>/download")
@login_required
@documented(
    "The file as an attachment named 'Artist - Title.ext'",
    content_type="application/octet-stream",
    errors=("NOT_FOUND",),
)
def download_media(media_id: str):
    """The file as an attachment named ``Artist - Title.ext``."""
    media = entries.get_entry(media_id)
    path = storage.live_file(media.id, media.file_name) if is_valid_row(media) else None
    if path is None:
        raise NotFound("This entry has no file being served; queue it again to restore it.")
    meta = media.media_metadata or {}
    name = storage.attachment_name(meta.get("artist"), meta.get("title"), media.extension)
    return send_file(path, mimetype=media.mime_type, as_attachment=True, download_name=name, conditional=True)
