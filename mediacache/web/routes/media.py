"""The media cache routes: queue, read, list, delete, retry, download."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from flask import Blueprint, Flask, current_app, jsonify, request, send_file

from ...core import names
from ...core.errors import DomainError
from ...core.profiles import FILE_TYPES
from ...core.states import RUNNING_STATES
from ...media import entries, queueing, storage, waiting, webhooks
from ...media.render import is_valid_row, media_document, public_roots, row_cache
from ...patches.waitress import ON_MAIN_LOOP, PEER_GONE
from ..access import limited_per_account, login_required, me
from ..bearer import caller_from_memory
from ..errors import error_body
from ..fastpath import json_answer
from ..openapi import documented
from ..params import load, render_for_request, request_roots
from ..schemas.base import page_of
from ..schemas.media import DeleteSchema, MediaFilterSchema, MediaSchema, MediaWaitSchema, QueueSchema
from ..schemas.webhooks import QUEUE_CALLBACKS
from .files import content_disposition

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

bp = Blueprint("media", __name__, url_prefix="/api/media")


@bp.post("/queue")
@login_required
@limited_per_account("queue_per_minute", "QUEUE_RATE_LIMIT")
@documented(
    "Queue a URL: 201 new, 409 existing (the entry at top level), 200 restored, 202 queued again",
    params=QueueSchema, query=True, response=MediaSchema, status=201,
    extra_responses={200: ("Restored from the private cache (restored: true).", MediaSchema),
                     202: ("Failed, purged or lost: queued again.", MediaSchema)},
    errors=("INVALID_URL", "UNSUPPORTED_SCHEME", "INVALID_PROFILE", "INVALID_BITRATE", "BITRATE_REQUIRES_PROFILE",
            "INVALID_RESOLUTION", "INVALID_TTL", "INVALID_EXTRA", "INVALID_NORMALIZE", "INVALID_CLIP",
            "PLAYLIST_NOT_SUPPORTED", "URL_NOT_ALLOWED", "ALREADY_CACHED", "ALREADY_QUEUED", "RATE_LIMITED",
            "TOO_MANY_PENDING", "STORAGE_FULL", "INVALID_CALLBACK_URL", "CALLBACK_URL_NOT_ALLOWED"),
    callbacks=QUEUE_CALLBACKS,
)  # fmt: skip
def queue():
    """Queue a URL for download and conversion (or report, restore or re-run its entry)."""
    args = load(QueueSchema())
    # Checked before anything is queued: a refused callback must not leave a job behind.
    callback_url = webhooks.check_callback_url(args["callback_url"]) if args["callback_url"] is not None else None
    outcome = queueing.queue(me(), args)
    webhooks.register(me(), outcome.media.id, callback_url, request_roots())
    body = render_for_request(outcome.media) | outcome.extras
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
    return jsonify(entries.list_entries(load(MediaFilterSchema()), render_for_request))


@bp.get("/<media_id>")
@login_required
@documented(
    "One entry; poll it until completed or failed (Retry-After: 1 while it runs), or long-poll it with wait=N",
    params=MediaWaitSchema, response=MediaSchema, errors=("NOT_FOUND",),
)  # fmt: skip
def get_media(media_id: str):
    """One entry; poll this until status is completed or failed, or pass wait=N (≤ 30 s) to be answered when it is."""
    # From the query string only: a poll's body (a game library's ``null``, or junk) never mattered and must not now.
    wait = load(MediaWaitSchema(), request.args.to_dict())["wait"] if "wait" in request.args else None
    if wait is None:
        document, running = entries.media_view(media_id, request_roots())
    else:
        document, running = waiting.wait_for_final(
            current_app._get_current_object(), media_id, wait, request_roots(), request.environ.get(PEER_GONE)
        )
    response = current_app.response_class(document, mimetype=current_app.json.mimetype)
    if running:
        response.headers.extend(RUNNING_HEADERS)
    return response


POLL_RULE = "/api/media/<media_id>"


# A running entry's answer tells a polite client the cadence: the fast path and the view send the same.
RUNNING_HEADERS = (("Retry-After", "1"),)


def asks_to_wait(query: str) -> bool:
    """Whether a raw query string may name ``wait``; errs toward yes, so a long-poll is never taken for a poll.

    Names are decoded as werkzeug decodes them (``wa%69t`` is ``wait`` to the view), so the
    shortcut in front of Flask and the server's choice of thread see every long-poll the view sees.
    """
    return "wait" in unquote(query)


def poll_response(app: Flask, environ: dict, media_id: str) -> WSGIApplication | None:
    """The poll answer from memory alone, as a WSGI app; None if memory cannot give it.

    The poll loop's case: a token and an entry this process has fresh in memory. The
    answer reads no database and needs no app context, so the server may give it from its
    main loop (``patches/waitress/``). Anything else returns None, and Flask's view answers,
    reading what it must, which refreshes the memory for the polls after it. On the main
    loop, memory gone stale will do while one poll has gone to Flask to read it afresh.
    A long-poll (``wait``) always goes to the view.
    """
    if asks_to_wait(environ.get("QUERY_STRING", "")):
        return None
    or_stale = environ.get(ON_MAIN_LOOP, False)
    caller = caller_from_memory(app, environ, or_stale=or_stale)
    row = row_cache(app).fresh(media_id, or_stale=or_stale) if caller is not None else None
    if row is None:
        return None
    headers = RUNNING_HEADERS if row["status"] in RUNNING_STATES else ()
    return json_answer(media_document(app, row, public_roots(environ, app)), app.json.mimetype, headers)


@bp.delete("/<media_id>")
@login_required
@documented(
    "Stop serving an entry (soft; hard=true or hard=file removes the file, hard=entry the row too; "
    "force=true cancels a running job)",
    params=DeleteSchema,
    status=204,
    errors=("VALIDATION_ERROR", "NOT_FOUND", "FORBIDDEN", "JOB_RUNNING"),
)
def delete_media(media_id: str):
    """Stop serving an entry (soft by default; hard=true|file removes the file, hard=entry the row too)."""
    args = load(DeleteSchema())
    hard = args["hard"]
    entries.delete(me(), media_id, hard=hard is not None, force=args["force"], remove_row=hard == "entry")
    return "", 204


@bp.post("/<media_id>/retry")
@login_required
@documented(
    "Queue a failed or cancelled entry again",
    response=MediaSchema,
    status=202,
    errors=("NOT_FOUND", "FORBIDDEN", "NOT_RETRYABLE", "STORAGE_FULL"),
)
def retry_media(media_id: str):
    """Queue a failed or cancelled entry again (whoever requested it, or an admin)."""
    media = queueing.retry(me(), media_id)
    webhooks.register(me(), media.id, None, request_roots())  # the caller's default webhook hears of the new run
    return jsonify(render_for_request(media)), 202


@bp.get("/<media_id>/download")
@login_required
@documented(
    "The file as an attachment named 'Artist - Title.ext'",
    content_type=FILE_TYPES,
    errors=("NOT_FOUND",),
)
def download_media(media_id: str):
    """The file as an attachment named ``Artist - Title.ext``."""
    media = entries.get_entry(media_id)
    path = storage.live_file(media.id, media.file_name) if is_valid_row(media) else None
    if path is None:
        raise DomainError("NOT_FOUND", "This entry has no file being served; queue it again to restore it.")
    meta = media.media_metadata or {}
    name = names.attachment_name(meta.get("artist"), meta.get("title"), media.extension)
    response = send_file(path, mimetype=media.mime_type, as_attachment=True, download_name=name, conditional=True)
    # werkzeug's own ASCII fallback of a name in another script is a bare ".mp3".
    response.headers["Content-Disposition"] = content_disposition("attachment", name, media.id)
    return response
