"""Response headers that keep browsers from misreading what we send."""

from __future__ import annotations

from flask import Flask

# JSON and files need no scripts, frames or styles; the docs page sets its own policy.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox"


def register_security_headers(app: Flask) -> None:
    """nosniff, no referrer, a restrictive CSP, and no server banner beyond waitress's own."""

    @app.after_request
    def add_security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
