"""Webhook signatures: ``X-Mediacache-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`` (README: Webhooks)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret (the whole string, prefix included, is the HMAC key)."""
    return SECRET_PREFIX + secrets.token_hex(32)


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
