"""The two hottest answers, given in front of Flask's dispatch: a poll with a known token, and a served file.

A game server polls an entry until it is ready, then every player's browser fetches the
file, in ranges, at once. For those requests Flask's request context, URL matching and
hooks were 40–60% of the work. Each shortcut calls the same function as its Flask view
and answers only its happy path; anything else (a new or bad token, no such entry or
file, a 416, other methods, odd paths) goes on to Flask, which answers it as usual.
Inside the request cycle, so ids, common headers, metrics and the log line still apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from .errors import APIError
from .requestcycle import ROUTE, wsgi_text

# answer(environ, *path_parts) → the response, or None to let Flask answer.
Answer = Callable[..., Response | None]


class Shortcut(NamedTuple):
    rule: str  # the Flask rule it stands in front of, e.g. "/api/media/<media_id>"
    pattern: re.Pattern
    answer: Answer
    in_app_context: bool  # False: the answer needs no app context (it is given the app)


def shortcut(rule: str, answer: Answer, in_app_context: bool = True) -> Shortcut:
    """A shortcut for a Flask rule whose variables are plain ``<name>`` path parts (no slashes)."""
    pattern = re.compile(re.sub(r"<\w+>", "([^/]+)", rule) + r"\Z")
    return Shortcut(rule, pattern, answer, in_app_context)


class Shortcuts:
    """WSGI middleware in front of ``app.wsgi_app`` for GET and HEAD of the given rules."""

    def __init__(self, app: Flask, routes: list[Shortcut]) -> None:
        self.app = app
        self.routes = routes
        self.wsgi_app = app.wsgi_app
        app.wsgi_app = self

    def __call__(self, environ: dict, start_response):
        if environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            path = environ.get("PATH_INFO", "")
            for route in self.routes:
                match = route.pattern.match(path)
                if match is not None:
                    response = self._answer(route, environ, match.groups())
                    if response is not None:
                        environ[ROUTE] = route.rule
                        return response(environ, start_response)
                    break
        return self.wsgi_app(environ, start_response)

    def _answer(self, route: Shortcut, environ: dict, parts: tuple[str, ...]) -> Response | None:
        decoded = [wsgi_text(part) for part in parts]  # as werkzeug's routing decodes them
        try:
            if not route.in_app_context:
                return route.answer(environ, *decoded)
            with self.app.app_context():
                g.environ = environ  # no request context here: what asks for the host reads it (presenter)
                return route.answer(environ, *decoded)
        except (APIError, HTTPException):
            return None  # Flask's view meets the same error and renders the envelope
