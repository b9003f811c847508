"""CORS for ``/api`` and ``/api/*``: a page on another origin (a game's web client, a dashboard) may call the API.

Auth is by the ``Authorization`` header only, never cookies, so credentials are never
allowed and ``*`` is a safe default. WSGI middleware in front of the shortcuts, so answers
given in front of Flask (polls) carry the headers too; a preflight is answered here,
for the methods the URL's route takes.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import HTTPException

ALLOWED_HEADERS = "Authorization, Content-Type, X-Request-ID"
# What a script may read besides the simple headers: the id to quote, where a new entry is,
# when to come back, the attachment's name.
EXPOSED_HEADERS = "X-Request-ID, Location, Retry-After, Content-Disposition"
PREFLIGHT_MAX_AGE = "600"


class Cors:
    """Wraps ``app.wsgi_app``: CORS headers on every ``/api`` answer, and preflight answers."""

    def __init__(self, app: Flask) -> None:
        origins = [origin.strip().rstrip("/").lower() for origin in app.config["CORS_ORIGINS"]]
        self.any_origin = "*" in origins
        self.origins = frozenset(origins)
        self.url_map = app.url_map
        self.wsgi_app = app.wsgi_app
        app.wsgi_app = self

    def __call__(self, environ: dict, start_response):
        path = environ.get("PATH_INFO", "")
        if path != "/api" and not path.startswith("/api/"):
            return self.wsgi_app(environ, start_response)
        headers = self._origin_headers(environ.get("HTTP_ORIGIN"))
        if environ["REQUEST_METHOD"] == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            methods = self._methods(environ)
            if methods:  # else no such route: Flask answers the 404
                headers += [
                    ("Access-Control-Allow-Methods", ", ".join(methods)),
                    ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
                    ("Access-Control-Max-Age", PREFLIGHT_MAX_AGE),
                ]
                start_response("204 No Content", headers)
                return []
        headers.append(("Access-Control-Expose-Headers", EXPOSED_HEADERS))

        def start_with_cors(status: str, response_headers: list[tuple[str, str]], exc_info=None):
            response_headers.extend(headers)
            return start_response(status, response_headers, exc_info)

        return self.wsgi_app(environ, start_with_cors)

    def _origin_headers(self, origin: str | None) -> list[tuple[str, str]]:
        if self.any_origin:
            return [("Access-Control-Allow-Origin", "*")]
        # The answer depends on the Origin asked from: caches must keep one per origin.
        headers = [("Vary", "Origin")]
        if origin and origin.rstrip("/").lower() in self.origins:
            headers.append(("Access-Control-Allow-Origin", origin))
        return headers

    def _methods(self, environ: dict) -> list[str]:
        try:
            methods = self.url_map.bind_to_environ(environ).allowed_methods()
        except HTTPException:
            return []
        return sorted(methods)
