"""What every request goes through: an id on the way in; the common headers, metrics and one log line on the way out.

One before and one after hook for all of it, rather than a pair per concern: Flask
dispatches each hook on its own, and on the poll path that was a measurable share of
the request.
"""

from __future__ import annotations

import time

from flask import Flask, g, request

from .logconfig import log_request
from .metrics import get_metrics
from .requestid import request_id_for
from .security import add_security_headers


def register_request_cycle(app: Flask) -> None:
    """Install the two hooks."""

    @app.before_request
    def open_request() -> None:
        g.request_started = time.perf_counter()
        g.request_id = request_id_for(request.environ)

    @app.after_request
    def close_request(response):
        started = g.pop("request_started", None)
        request_id = g.get("request_id") or request_id_for({})
        response.headers["X-Request-ID"] = request_id
        add_security_headers(response.headers)
        if started is None:  # a before-request hook failed before ours ran
            return response
        elapsed = time.perf_counter() - started
        route = request.url_rule.rule if request.url_rule else None
        get_metrics().request_answered(request.method, route, response.status_code, elapsed)
        principal = g.get("principal")
        log_request(request_id, principal.username if principal else None, request.method, route, request.path,
                    response.status_code, round(elapsed * 1000, 1))  # fmt: skip
        return response
