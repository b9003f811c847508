"""Errors as HTTP: the code → status table and the envelope of API.md, rendered in one place.

Below web/ everything raises ``core.errors.DomainError(code, message, details)``; only
here does a code get its status.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, jsonify, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from ..core.errors import DomainError
from ..db.database import database_problem
from ..db.extensions import db
from .requestid import current_request_id

log = logging.getLogger(__name__)

# Error code → HTTP status, for every code the API answers with: the one place a code meets its
# status. The error handlers below and the OpenAPI document both read it; a test checks that
# every code the package raises is in it.
ERROR_STATUSES: dict[str, int] = {
    "BAD_REQUEST": 400, "VALIDATION_ERROR": 400, "INVALID_JSON": 400, "INVALID_URL": 400,
    "UNSUPPORTED_SCHEME": 400, "INVALID_PROFILE": 400, "INVALID_BITRATE": 400, "BITRATE_REQUIRES_PROFILE": 400,
    "INVALID_RESOLUTION": 400, "INVALID_TTL": 400, "INVALID_EXTRA": 400, "PLAYLIST_NOT_SUPPORTED": 400,
    "INVALID_DURATION": 400, "CANNOT_MODIFY_SELF": 400, "INVALID_SETTING": 400,
    "UNAUTHORIZED": 401, "INVALID_CREDENTIALS": 401, "TOKEN_EXPIRED": 401, "TOKEN_REVOKED": 401,
    "FORBIDDEN": 403, "ACCOUNT_PENDING": 403, "ACCOUNT_DISABLED": 403, "REGISTRATION_DISABLED": 403,
    "URL_NOT_ALLOWED": 403, "ACCESS_DENIED_PRIVATE": 403, "ACCESS_DENIED_AGE_RESTRICTED": 403,
    "NOT_FOUND": 404, "MEDIA_UNAVAILABLE": 404, "METHOD_NOT_ALLOWED": 405, "NOT_ACCEPTABLE": 406,
    "CONFLICT": 409, "USER_EXISTS": 409, "ALREADY_CACHED": 409, "ALREADY_QUEUED": 409, "JOB_RUNNING": 409,
    "NOT_RETRYABLE": 409, "LENGTH_REQUIRED": 411, "PAYLOAD_TOO_LARGE": 413, "TOO_LARGE": 413, "TOO_LONG": 413,
    "URI_TOO_LONG": 414, "UNSUPPORTED_MEDIA_TYPE": 415, "RANGE_NOT_SATISFIABLE": 416,
    "UNSUPPORTED_URL": 422, "NO_AUDIO": 422, "NO_VIDEO": 422, "RATE_LIMITED": 429, "TOO_MANY_PENDING": 429,
    "HEADERS_TOO_LARGE": 431,
    "INTERNAL_ERROR": 500, "FFMPEG_MISSING": 500, "TRANSCODE_FAILED": 500, "UPSTREAM_ERROR": 502,
    "UNHEALTHY": 503, "STREAMS_FULL": 503, "DATABASE_BUSY": 503, "DATABASE_DAMAGED": 503, "NETWORK_GUARD_FAILED": 503,
    "UPSTREAM_TIMEOUT": 504, "TIMEOUT": 504, "STORAGE_FULL": 507,
}  # fmt: skip
# yt-dlp's failures by class (sources/failures.py) and the cookie upload (issue 16).
ERROR_STATUSES.update({
    "GEO_BLOCKED": 451, "DRM_PROTECTED": 422, "LIVE_STREAM": 422, "BOT_CHECK": 503, "PAGE_RELOAD_REQUIRED": 503,
    "UPSTREAM_RATE_LIMITED": 503, "UPSTREAM_FORBIDDEN": 502, "NETWORK_ERROR": 502, "JS_RUNTIME_MISSING": 503,
    "CHALLENGE_FAILED": 503, "POT_PROVIDER_UNAVAILABLE": 503, "YTDLP_OUTDATED": 503, "INVALID_COOKIES": 400,
})  # fmt: skip
# Completion webhooks (issue 18): a receiver's URL is the client's own input, refused like any bad parameter.
ERROR_STATUSES.update({"INVALID_CALLBACK_URL": 400, "CALLBACK_URL_NOT_ALLOWED": 400})
# Collections (issue 19): a playlist longer than MAX_COLLECTION_ITEMS, one that lists nothing.
ERROR_STATUSES.update({"TOO_MANY_ITEMS": 400, "EMPTY_COLLECTION": 422})
# Loudness and clips (issue 19): a bad normalize or start/end, and a clip that starts past the source's end.
ERROR_STATUSES.update({"INVALID_NORMALIZE": 400, "INVALID_CLIP": 400, "CLIP_OUT_OF_RANGE": 422})
# Where one route answers a code with another status: a wrong current password on
# change-password comes from a caller already known by their token, so it is 403, not 401.
ROUTE_STATUSES: dict[tuple[str, str], int] = {("auth.change_password", "INVALID_CREDENTIALS"): 403}
# Codes for errors raised by Flask/werkzeug rather than by our own code.
HTTP_STATUS_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE", 409: "CONFLICT", 411: "LENGTH_REQUIRED", 413: "PAYLOAD_TOO_LARGE", 414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE", 416: "RANGE_NOT_SATISFIABLE", 429: "RATE_LIMITED", 431: "HEADERS_TOO_LARGE",
}  # fmt: skip


def status_for(code: str, endpoint: str | None = None) -> int:
    """The HTTP status of an error code (on ``endpoint``, if that route answers it differently)."""
    return ROUTE_STATUSES.get((endpoint or "", code)) or ERROR_STATUSES[code]


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The envelope every error response carries."""
    return {
        "error": {"code": code, "message": message, "details": details or {}},
        "request_id": current_request_id(),
    }


def error_response(code: str, message: str, status: int, details: dict[str, Any] | None = None):
    """A JSON error response in the envelope."""
    response = jsonify(error_body(code, message, details))
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Render every error, ours or the framework's, as the envelope."""

    @app.errorhandler(DomainError)
    def handle_domain_error(exc: DomainError):
        response = error_response(exc.code, exc.message, status_for(exc.code, request.endpoint), exc.details)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException):
        status = exc.code or 500
        code = HTTP_STATUS_CODES.get(status, "HTTP_ERROR")
        message = exc.description or exc.name
        if status == 429:
            message = f"Too many requests ({exc.description}); wait and try again."
        response = error_response(code, message, status)
        # What the exception says besides its body: Allow on 405, Content-Range on 416, …
        for name, value in exc.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    @app.errorhandler(DBAPIError)
    def handle_database_error(exc: DBAPIError):
        problem = database_problem(exc)
        if problem is None:
            return handle_unexpected(exc)
        db.session.rollback()
        if problem == "busy":
            # Another connection held a lock for the whole busy timeout: try again shortly, nothing is wrong.
            log.warning("database busy past the busy timeout (request %s): %s", current_request_id(), exc.orig)
            response = error_response(
                "DATABASE_BUSY", "The database is locked by another connection; try again in a moment.", 503
            )
            # As long as the lock has already been held, in whole seconds; at least 2, because
            # Flask-Limiter rewrites the header on rate-limited routes rounding down (1 became 0).
            seconds = max(2, -(-current_app.config["DB_BUSY_TIMEOUT_MS"] // 1000))
            response.headers["Retry-After"] = str(seconds)
            return response
        # The engine's hook has marked the service unhealthy (/api/health) already.
        log.error("the database file is damaged (request %s): %s; restore it from a backup and restart",
                  current_request_id(), exc.orig)  # fmt: skip
        return error_response(
            "DATABASE_DAMAGED",
            "The server's database file is damaged; an administrator must restore it from a backup.",
            503,
        )

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        # Never leak a stack trace; keep the database usable for the next request.
        db.session.rollback()
        log.exception("unhandled error (request %s)", current_request_id())
        return error_response("INTERNAL_ERROR", "The server hit an unexpected error; it has been logged.", 500)
