"""X-Request-ID on every response: echo a sane incoming one, else make one."""

from __future__ import annotations

import itertools
import os
import re

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# A random prefix per process and a counter: unique across restarts without a random draw per request.
_PROCESS_PREFIX = os.urandom(6).hex()
_sequence = itertools.count(1)


def request_id_for(environ: dict) -> str:
    """The caller's X-Request-ID if it is safe to echo and log, else a new one."""
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    return incoming if _VALID_ID.fullmatch(incoming) else f"{_PROCESS_PREFIX}{next(_sequence):010x}"
