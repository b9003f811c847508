"""The bearer token of a request: checked from memory when this process has verified it before,
else by flask-jwt-extended; and the error envelope for every way a token can fail.

accounts/tokens.py issues and revokes tokens and says whether a token's claims still hold;
this module is where a request meets them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, request
from flask_jwt_extended import get_current_user, get_jwt
from flask_jwt_extended import verify_jwt_in_request as full_token_check
from flask_jwt_extended.exceptions import RevokedTokenError
from jwt import ExpiredSignatureError

from ..accounts.authcache import Principal, auth_cache
from ..accounts.tokens import token_is_dead
from ..db.extensions import jwt
from .errors import error_response
from .middleware import CALLER, TOKEN


def authenticate(*, refresh: bool = False, verify_type: bool = True) -> Principal:
    """The account behind the request's bearer token; raises flask-jwt-extended's errors otherwise.

    An access token seen before (the poll loop's case) is checked from memory by
    ``remembered_caller``. Anything else (a new, expired, revoked or malformed token, or a
    refresh token) takes the library's full path, which also produces the right error.
    """
    principal = None if refresh else remembered_caller(request.environ)
    if principal is None:
        _canonical_scheme(request.environ)
        full_token_check(refresh=refresh, verify_type=verify_type)
        principal = get_current_user()
        request.environ[TOKEN], request.environ[CALLER] = get_jwt(), principal
    return principal


def authenticate_for_renewal() -> Principal:
    """``authenticate()``, except that an access token expired at most ``TOKEN_RENEW_GRACE`` seconds ago passes too.

    For POST /api/token alone, which then renews only the caller's own token (``is_expired``):
    a client that renews a little late keeps its session. A token revoked, or whose account
    is gone, disabled or has a new password, never passes, late or not.
    """

    def late_access_token(payload: dict[str, Any]) -> bool:
        grace = current_app.config["TOKEN_RENEW_GRACE"]
        return payload.get("type") == "access" and time.time() <= payload["exp"] + grace

    return _authenticate_even_expired(late_access_token)


def authenticate_for_logout() -> Principal:
    """``authenticate(verify_type=False)``, except that an expired access or refresh token passes too.

    For POST /api/auth/logout alone: a client whose access token has lapsed must still be able
    to end its login, or the login's refresh token would live on. Signature, type and account
    are checked as for any token; a token already revoked or whose account is gone never passes.
    """
    return _authenticate_even_expired(lambda payload: payload.get("type") in ("access", "refresh"), verify_type=False)


def _authenticate_even_expired(accepts_expired: Callable[[dict[str, Any]], bool], **check: bool) -> Principal:
    """``authenticate(**check)``, also passing an expired token whose (signature-checked) claims ``accepts_expired``."""
    try:
        return authenticate(**check)
    except ExpiredSignatureError as expired:
        # flask-jwt-extended decodes an expired token again, signature checked, for its error handler.
        header, payload = getattr(expired, "jwt_header", None), getattr(expired, "jwt_data", None)
        if payload is None or not accepts_expired(payload):
            raise
    principal = auth_cache().principal(int(payload["sub"]))
    if token_is_dead(payload, principal):
        raise RevokedTokenError(header, payload)
    request.environ[TOKEN], request.environ[CALLER] = payload, principal
    return principal


def remembered_caller(environ: dict) -> Principal | None:
    """The account behind an access token this process verified before, if the token still holds; else None.

    Expiry, account, password version and revocation are checked without decoding the
    token again (the account and revocations may be read from the database).
    """
    payload = _remembered_payload(environ)
    principal = auth_cache().principal(int(payload["sub"])) if payload is not None else None
    if payload is None or token_is_dead(payload, principal):
        return None
    environ[TOKEN], environ[CALLER] = payload, principal
    return principal


def caller_from_memory(app: Flask, environ: dict, *, or_stale: bool = False) -> Principal | None:
    """Like ``remembered_caller``, from memory alone: None also when only the database could say.

    ``or_stale``: see ``AuthCache.vouches_for``.
    """
    payload = _remembered_payload(environ)
    principal = auth_cache(app).vouches_for(payload, or_stale=or_stale) if payload is not None else None
    if principal is not None:
        environ[TOKEN], environ[CALLER] = payload, principal
    return principal


# The auth scheme is case-insensitive (RFC 9110 §11.1): "bearer" and "BEARER" are "Bearer".
_SCHEME = re.compile(r"(^\s*|,\s*)bearer(?=[ \t])", re.IGNORECASE)


def _canonical_scheme(environ: dict) -> None:
    """Spell the header's scheme "Bearer", the one way flask-jwt-extended compares it."""
    header = environ.get("HTTP_AUTHORIZATION")
    if header:
        environ["HTTP_AUTHORIZATION"] = _SCHEME.sub(r"\1Bearer", header)


def _remembered_payload(environ: dict) -> dict[str, Any] | None:
    header = environ.get("HTTP_AUTHORIZATION", "")
    return jwt.remembered_access(header[7:]) if header[:7].lower() == "bearer " else None


def register_token_callbacks(app: Flask) -> None:
    """Configure flask-jwt-extended: HS256 only, header only, and our error envelope."""
    config = app.config
    config.update(
        JWT_SECRET_KEY=config["SECRET_KEY"],
        JWT_ALGORITHM="HS256",
        JWT_DECODE_ALGORITHMS=["HS256"],
        JWT_TOKEN_LOCATION=["headers"],
        JWT_COOKIE_CSRF_PROTECT=False,
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=config["ACCESS_TOKEN_TTL"]),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(seconds=config["REFRESH_TOKEN_TTL"]),
    )
    jwt.init_app(app)

    jwt.token_in_blocklist_loader(
        lambda _header, payload: token_is_dead(payload, auth_cache().principal(int(payload["sub"])))
    )
    # Routes get the cached Principal; services that need the full row load it by id.
    jwt.user_lookup_loader(lambda _header, payload: auth_cache().principal(int(payload["sub"])))

    def unauthorized(message: str, code: str = "UNAUTHORIZED"):
        response = error_response(code, message, 401)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    jwt.unauthorized_loader(
        lambda reason: unauthorized(f"Send 'Authorization: Bearer <token>' (get one from POST /api/login): {reason}.")
    )
    jwt.invalid_token_loader(lambda reason: unauthorized(f"The token is not valid: {reason}."))
    jwt.expired_token_loader(
        lambda _h, _p: unauthorized("The token has expired; log in again or use /api/auth/refresh.", "TOKEN_EXPIRED")
    )
    jwt.revoked_token_loader(lambda _h, _p: unauthorized("The token has been revoked; log in again.", "TOKEN_REVOKED"))
    jwt.user_lookup_error_loader(lambda _h, _p: unauthorized("The token's account no longer exists.", "TOKEN_REVOKED"))
