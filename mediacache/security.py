"""Response headers that keep browsers from misreading what we send."""

from __future__ import annotations

from flask import Flask

# JSON and files need no scripts, frames or styles; the docs page sets its own policy.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox"


def register_security_headers(app: Flask) -> None:
    """nosniff, no referrer, a restrictive CSP, and no server banner beyond waitress's own."""

    fixed = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY")]

    @app.after_request
    def add_security_headers(response):
        # Only a page with its own policy (the API docs) sets any of these before us.
        if "Content-Security-Policy" not in response.headers:
            response.headers.add("Content-Security-Policy", DEFAULT_CSP)
        response.headers.extend(fixed)
        return response
