"""X-Request-ID on every response: echo a sane incoming one, else make one.

The middleware assigns it; the error envelope and log lines read it back from here, so
neither has to import the middleware.
"""

from __future__ import annotations

import itertools
import os
import re

from flask import request

# Where the middleware leaves the id in the WSGI environ.
REQUEST_ID = "mediacache.request_id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# A random prefix per process and a counter: unique across restarts without a random draw per request.
_PROCESS_PREFIX = os.urandom(6).hex()
_sequence = itertools.count(1)


def request_id_for(environ: dict) -> str:
    """The caller's X-Request-ID if it is safe to echo and log, else a new one."""
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    return incoming if _VALID_ID.fullmatch(incoming) else f"{_PROCESS_PREFIX}{next(_sequence):010x}"


def current_request_id() -> str | None:
    """The id of the request being handled (for error bodies and log lines)."""
    return request.environ.get(REQUEST_ID)
