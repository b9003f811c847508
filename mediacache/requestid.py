"""X-Request-ID on every response: echo a sane incoming one, else make one."""

from __future__ import annotations

import re
import uuid

from flask import Flask, g, request

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def register_request_id(app: Flask) -> None:
    """Assign the id before anything else runs and stamp it on the way out."""

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def stamp_request_id(response):
        response.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
        return response
