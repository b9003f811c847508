"""What went wrong, as a stable code: the one exception every layer below web/ raises for a client to see.

The code is the contract (API.md's ``error.code``); the HTTP status that goes with it is
web/'s business, kept in one table there (``web.errors.ERROR_STATUSES``). Nothing here
knows about HTTP, so services, jobs and the CLI raise and catch the same error.
"""

from __future__ import annotations

import json
from typing import Any

# How much of a client's value an error message repeats: enough to recognise it, not a 5,000-character echo.
SHOWN_CHARS = 64


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """A client's value as it was sent, for an error message: text quoted, JSON scalars as JSON, cut short."""
    if isinstance(value, str):
        return repr(value[:limit]) + ("…" if len(value) > limit else "")
    text = json.dumps(value) if value is None or isinstance(value, (bool, int, float)) else repr(value)
    return text[:limit] + ("…" if len(text) > limit else "")


class DomainError(Exception):
    """An error a client should see: a stable code, a helpful message and optional details."""

    def __init__(
        self, code: str, message: str, details: dict[str, Any] | None = None, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        # Seconds after which the same call may succeed (a per-user limit): a fact of the domain;
        # web/ turns it into a Retry-After header.
        self.retry_after = retry_after
