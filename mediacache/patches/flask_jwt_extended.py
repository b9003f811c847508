"""flask-jwt-extended's manager, remembering tokens it has already verified.

A game server polls with the same token many times a second. Once a token's signature
has been checked, the same string always decodes to the same claims, so the check is
not repeated; expiry is still compared on every use, and revocation is checked on every
request as before (see web/bearer.py's authenticate).

It overrides the manager's private ``_decode_jwt_from_config``, so it is tied to the
versions it was tested with: outside them the manager decodes every token, as released.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask
from flask_jwt_extended import JWTManager

from . import declare

PATCH = declare("flask-jwt-extended verify once", "flask-jwt-extended", ">=4.7.1,<4.8")
MAX_REMEMBERED = 10_000


class VerifyingOnceJWTManager(JWTManager):
    """A JWTManager with a bounded cache of verified token payloads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._verified: dict[str, dict[str, Any]] = {}
        self._verified_lock = threading.Lock()
        self._remembering = False

    def init_app(self, app: Flask, add_context_processor: bool = False) -> None:
        """Attach to the app; remember verified tokens only with a flask-jwt-extended this was tested with."""
        self._remembering = PATCH.applies()
        super().init_app(app, add_context_processor)

    def remembered_access(self, encoded_token: str) -> dict[str, Any] | None:
        """The claims of an unexpired access token whose signature was checked before, else None."""
        payload = self._verified.get(encoded_token) if self._remembering else None
        if payload is None or payload.get("type") != "access" or payload.get("exp", 0) <= time.time():
            return None
        return payload

    def _decode_jwt_from_config(
        self, encoded_token: str, csrf_value: str | None = None, allow_expired: bool = False
    ) -> dict[str, Any]:
        if not self._remembering:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        payload = self._verified.get(encoded_token)
        if payload is not None and not allow_expired and payload.get("exp", 0) > time.time():
            return dict(payload)
        # Unknown, or expired since: the full check runs (and raises for an expired token).
        payload = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        if not allow_expired:
            with self._verified_lock:
                if len(self._verified) >= MAX_REMEMBERED:
                    self._verified.clear()
                self._verified[encoded_token] = dict(payload)
        return payload
