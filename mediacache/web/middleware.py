"""What every request goes through: an id on the way in; the common headers, metrics and one log line on the way out.

This is WSGI middleware around the Flask app rather than a set of Flask hooks: headers
are appended to a plain list, and nothing is dispatched per concern. On the poll path,
the hooks it replaces were about a quarter of the request.
"""

from __future__ import annotations

import time

from flask import Flask, request

from ..db import audit
from ..ops.logging import log_request
from ..ops.metrics import get_metrics
from .requestid import REQUEST_ID, request_id_for
from .security import DEFAULT_CSP, FIXED_HEADERS

# What the Flask side leaves in the WSGI environ for the envelope (and for the views).
ROUTE = "mediacache.route"
CALLER = "mediacache.caller"  # the Principal behind the request's token, once checked
TOKEN = "mediacache.token"  # that token's claims


class RequestCycle:
    """Wraps ``app.wsgi_app``: assigns the request id, stamps headers, counts and logs the answer."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.wsgi_app = app.wsgi_app
        app.wsgi_app = self
        # The route template is only known once Flask has matched the URL.
        app.before_request(note_route)
        app.before_request(note_client_address)
        app.teardown_request(forget_client_address)

    def __call__(self, environ: dict, start_response):
        started = time.perf_counter()
        request_id = environ[REQUEST_ID] = request_id_for(environ)
        answered: list[str] = []

        def stamped_start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
            answered.append(status)
            headers.append(("X-Request-ID", request_id))
            # Only a page with its own policy (the API docs) has set one before us.
            if not any(name.lower() == "content-security-policy" for name, _ in headers):
                headers.append(("Content-Security-Policy", DEFAULT_CSP))
            headers.extend(FIXED_HEADERS)
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, stamped_start_response)
        elapsed = time.perf_counter() - started
        status = int(answered[-1][:3]) if answered else 500
        route = environ.get(ROUTE)
        method = environ["REQUEST_METHOD"]
        get_metrics(self.app).request_answered(method, route, status, elapsed)
        caller = environ.get(CALLER)
        path = wsgi_text(environ.get("PATH_INFO", ""))  # what the client sent (never the query string)
        log_request(request_id, caller.username if caller else None, method, route, path, status,
                    round(elapsed * 1000, 1))  # fmt: skip
        return body


def wsgi_text(value: str) -> str:
    """A path from the WSGI environ as the client wrote it: WSGI carries it as latin-1, URLs are UTF-8."""
    return value.encode("latin-1").decode("utf-8", "replace")


def note_route() -> None:
    """Leave the matched route template (``/api/media/<media_id>``) for the log line and metrics."""
    if request.url_rule is not None:
        request.environ[ROUTE] = request.url_rule.rule


def note_client_address() -> None:
    """The audit log records where a change came from; it learns the address here."""
    audit.client_address.set(request.remote_addr)


def forget_client_address(_exc: BaseException | None) -> None:
    """A worker thread's next use outside a request must not inherit this request's address."""
    audit.client_address.set(None)
