"""One error hierarchy, rendered into the envelope of API.md in one place."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, jsonify
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from ..db.database import database_problem
from ..db.extensions import db
from .middleware import current_request_id

log = logging.getLogger(__name__)

# Codes for errors raised by Flask/werkzeug rather than by our own code.
HTTP_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    416: "RANGE_NOT_SATISFIABLE",
    429: "RATE_LIMITED",
    431: "HEADERS_TOO_LARGE",
}


class APIError(Exception):
    """An error a client should see: a stable code, an HTTP status and a helpful message."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status
        self.details = details or {}
        self.headers = headers or {}


class BadRequest(APIError):
    status = 400
    code = "BAD_REQUEST"


class Unauthorized(APIError):
    status = 401
    code = "UNAUTHORIZED"


class Forbidden(APIError):
    status = 403
    code = "FORBIDDEN"


class NotFound(APIError):
    status = 404
    code = "NOT_FOUND"


class Conflict(APIError):
    status = 409
    code = "CONFLICT"


class TooManyRequests(APIError):
    status = 429
    code = "RATE_LIMITED"


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

    @app.errorhandler(APIError)
    def handle_api_error(exc: APIError):
        response = error_response(exc.code, exc.message, exc.status, exc.details)
        response.headers.update(exc.headers)
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
