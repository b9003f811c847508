"""Response headers that keep browsers from misreading what we send."""

from __future__ import annotations

from flask import Flask
from flask.sessions import SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

# Stamped on every response by the middleware (middleware.py). JSON and files need no scripts, frames or
# styles; a page with a policy of its own (the API docs) keeps that policy.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox"
FIXED_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"))


class NoCookieSessions(SessionInterface):
    """The API authenticates with bearer tokens only; no request opens or signs a cookie session."""

    def open_session(self, app, request):
        return self.make_null_session(app)

    def save_session(self, app, session, response) -> None:
        return None


def disable_cookie_sessions(app: Flask) -> None:
    """No cookie sessions: nothing to forge, and nothing to sign on every request."""
    app.session_interface = NoCookieSessions()


def trust_proxies(app: Flask) -> None:
    """Behind ``TRUSTED_PROXIES`` reverse proxies, take the client's address and scheme from what they forward.

    Rate limits and lockouts key on the client's address: behind nginx every client would
    otherwise be nginx, and one attacker's failed logins would lock out the real admin. Only
    the last ``TRUSTED_PROXIES`` entries are believed, the ones our own proxies appended; with
    0 (the default) the headers are ignored, as a client may send any.
    """
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        # Outermost, so every layer (limits, audit log, request log) sees the same address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
