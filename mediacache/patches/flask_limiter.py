"""Flask-Limiter: its per-request hooks run only for routes that declare a limit.

Every limit here is a decorator, which checks its own limit when the route runs. Flask-Limiter
also hooks every request: a check before dispatch for default limits we do not have (taken
out), and header and bookkeeping hooks after it. Together they were about a tenth of each
poll, so the latter two run only for routes that declare a limit. It finds its hooks and the
mark it leaves on wrapped views by their private names, so it is tied to the versions it was
tested with; outside them every request runs all of Flask-Limiter's hooks, as released.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter

from . import declare

PATCH = declare("Flask-Limiter hooks only where limited", "Flask-Limiter", ">=4.1,<4.2")


def hooks_only_where_limited(app: Flask, limiter: Limiter) -> None:
    """Drop the limiter's before-request check; run its after-request hooks only on limited routes."""

    def is_ours(hook) -> bool:
        return getattr(hook, "__self__", None) is limiter or limiter in getattr(hook, "args", ())

    def limited_route() -> bool:
        # Flask-Limiter marks each view it wraps with (a weak proxy of) itself; functools.wraps
        # carries the mark outwards. The rate-limit tests fail if a new version drops it.
        return getattr(app.view_functions.get(request.endpoint), "__wrapper-limiter-instance", None) == limiter

    def only_where_limited(hook):
        return lambda value: hook(value) if limited_route() else value

    before = app.before_request_funcs.setdefault(None, [])
    before[:] = [hook for hook in before if not is_ours(hook)]
    for hooks in (app.after_request_funcs.setdefault(None, []), app.teardown_request_funcs.setdefault(None, [])):
        hooks[:] = [only_where_limited(hook) if is_ours(hook) else hook for hook in hooks]
