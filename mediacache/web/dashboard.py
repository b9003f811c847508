"""The web dashboard: server-rendered page shells whose small script modules talk to the JSON API.

Pages carry no data and need no session: the access token lives in the browser's
sessionStorage and goes in the ``Authorization`` header of each API call, so there is no
cookie to forge and no CSRF surface. Every page is served under a strict policy: no inline
script or style, nothing from another origin.
"""

from __future__ import annotations

from functools import cache
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, render_template

from .openapi import documented

bp = Blueprint(
    "dashboard", __name__, template_folder="templates", static_folder="static", static_url_path="/assets"
)  # fmt: skip

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "media-src 'self'{media}; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@cache
def page_policy(public_url: str | None, external: tuple[str, ...]) -> str:
    """The pages' Content-Security-Policy: media may also play from the configured file roots (a CDN)."""
    origins = []
    for root in (public_url, *external):
        if root:
            parts = urlsplit(root)
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
    return PAGE_POLICY.format(media="".join(f" {origin}" for origin in origins))


def _page(template: str, **context) -> Response:
    config = current_app.config
    response = Response(render_template(template, **context), mimetype="text/html")
    response.headers["Content-Security-Policy"] = page_policy(config["PUBLIC_URL"], tuple(config["EXTERNAL_ENDPOINTS"]))
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
@documented("Dashboard: queue a URL and watch its job (HTML page)", content_type="text/html", auth="none")
def queue_page():
    """The queue page, the dashboard's home."""
    return _page("queue.html", page="queue")


@bp.get("/library")
@documented("Dashboard: the cache's entries (HTML page)", content_type="text/html", auth="none")
def library_page():
    """Entries with search, filters, sort and pages."""
    return _page("library.html", page="library")


@bp.get("/entries/<media_id>")
@documented("Dashboard: one entry (HTML page; the entry itself is read from the API)",
            content_type="text/html", auth="none")  # fmt: skip
def entry_page(media_id: str):
    """One entry's metadata, progress, errors and request-log lines."""
    return _page("entry.html", page="entry", media_id=media_id)


@bp.get("/admin")
@documented("Dashboard: administration (HTML page)", content_type="text/html", auth="none")
def admin_page():
    """Users, settings, jobs, capacity, activity and stats."""
    return _page("admin.html", page="admin")


@bp.get("/sign-in")
@documented("Dashboard: sign in (HTML page)", content_type="text/html", auth="none")
def sign_in_page():
    """The sign-in form."""
    return _page("sign_in.html", page="sign-in")
