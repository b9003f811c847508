"""The two hottest answers, given in front of Flask's dispatch: a poll with a known token, and a served file.

A game server polls an entry until it is ready, then every player's browser fetches the
file, in ranges, at once. For those requests Flask's request context, URL matching and
hooks were 40–60% of the work. Each shortcut calls the same function as its Flask view
and answers only its happy path; anything else (a new or bad token, no such entry or
file, a 416, other methods, odd paths) goes on to Flask, which answers it as usual.
Inside the request cycle, so ids, common headers, metrics and the log line still apply.

Answers that come from memory alone (polls) may also be given on the server's main loop,
without handing the request to a thread (``patches/waitress/``). There, a request no shortcut
can answer from memory raises ``NeedsThread`` before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from flask import Flask
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from ..core.errors import DomainError
from ..patches.waitress import ON_MAIN_LOOP, NeedsThread
from .middleware import ROUTE, wsgi_text

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

EXTENSION_KEY = "mediacache.shortcuts"

# answer(environ, *path_parts) → the answer as a WSGI app, or None to let Flask answer.
# It is given the app it needs (functools.partial) and runs without an app context.
Answer = Callable[..., "WSGIApplication | None"]


class Shortcut(NamedTuple):
    rule: str  # the Flask rule it stands in front of, e.g. "/api/media/<media_id>"
    pattern: re.Pattern
    answer: Answer
    from_memory: bool  # True: it answers from memory alone, or not at all (safe on the main loop)


def shortcut(rule: str, answer: Answer, from_memory: bool = False) -> Shortcut:
    """A shortcut for a Flask rule whose variables are plain ``<name>`` path parts (no slashes)."""
    pattern = re.compile(re.sub(r"<\w+>", "([^/]+)", rule) + r"\Z")
    return Shortcut(rule, pattern, answer, from_memory)


class Shortcuts:
    """WSGI middleware in front of ``app.wsgi_app`` for GET and HEAD of the given rules."""

    def __init__(self, app: Flask, routes: list[Shortcut]) -> None:
        self.routes = routes
        self.wsgi_app = app.wsgi_app
        app.wsgi_app = self
        app.extensions[EXTENSION_KEY] = self
        # The paths worth offering to the main loop (patches.waitress.make_server's main_loop_paths).
        patterns = [route.pattern.pattern for route in routes if route.from_memory]
        self.from_memory_paths = re.compile("|".join(patterns) or r"(?!)")  # (?!) matches nothing

    def __call__(self, environ: dict, start_response):
        on_main_loop = environ.get(ON_MAIN_LOOP, False)
        if environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            path = environ.get("PATH_INFO", "")
            for route in self.routes:
                match = route.pattern.match(path)
                if match is not None:
                    may_answer = route.from_memory or not on_main_loop
                    answer = self._answer(route, environ, match.groups()) if may_answer else None
                    if answer is not None:
                        environ[ROUTE] = route.rule
                        return answer(environ, start_response)
                    break
        if on_main_loop:
            raise NeedsThread
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _answer(route: Shortcut, environ: dict, parts: tuple[str, ...]) -> WSGIApplication | None:
        decoded = [wsgi_text(part) for part in parts]  # as werkzeug's routing decodes them
        try:
            return route.answer(environ, *decoded)
        except (DomainError, HTTPException, DBAPIError):
            return None  # Flask's view meets the same error and renders the envelope (a busy database: 503)


def from_memory_paths(app: Flask) -> re.Pattern:
    """The paths whose GET and HEAD a shortcut may answer from memory alone: the ones to try on the main loop."""
    return app.extensions[EXTENSION_KEY].from_memory_paths


def json_answer(document: bytes, mimetype: str, extra_headers: tuple[tuple[str, str], ...] = ()) -> WSGIApplication:
    """A 200 carrying ``document`` (no body for HEAD), as Flask's ``Response`` would send it, plus ``extra_headers``."""

    def answer(environ: dict, start_response):
        start_response("200 OK", [("Content-Type", mimetype), ("Content-Length", str(len(document))), *extra_headers])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [document]

    return answer
