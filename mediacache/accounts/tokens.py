"""JWT issuing and revocation, and whether a token's claims still hold for its account.

Reading a token off a request, and the answers to a bad one, are web/'s (web/bearer.py).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token

from ..core.timeutil import isoformat
from ..db.extensions import db
from ..db.models import RevokedToken, User
from .authcache import Principal, auth_cache, holds_for, revocation_keys, session_key


def _claims(user: User | Principal, session: str | None = None) -> dict[str, Any]:
    # "tv" ties the token to the password it was issued under (see User.token_version),
    # "tk" to the account itself, whose id alone may be given to another one later (User.token_key),
    # "sid" to the login it came from, so that logging out with any of its tokens ends them all.
    claims = {"username": user.username, "role": user.role, "tv": user.token_version, "tk": user.token_key}
    if session is not None:
        claims["sid"] = session
    return claims


def access_token_for(user: User | Principal, lifetime: timedelta | None = None, session: str | None = None) -> str:
    """A signed access token for ``user``."""
    lifetime = lifetime or current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return create_access_token(identity=str(user.id), additional_claims=_claims(user, session), expires_delta=lifetime)


def session_tokens(user: User | Principal, *, refreshed_from: dict[str, Any] | None = None) -> dict[str, Any]:
    """The token part of a login answer: access token, lifetime, and a refresh token for a new login.

    ``refreshed_from``: the refresh token's claims, when this answers a refresh; the new
    access token joins that login's session and no new refresh token is issued.
    """
    session = refreshed_from.get("sid") if refreshed_from is not None else secrets.token_hex(16)
    token = access_token_for(user, session=session)
    body: dict[str, Any] = {
        "token": token,
        "access_token": token,
        "token_type": "bearer",
        "expires_in": current_app.config["ACCESS_TOKEN_TTL"],
    }
    if refreshed_from is None:
        body["refresh_token"] = create_refresh_token(identity=str(user.id), additional_claims=_claims(user, session))
    return body


def long_lived_token(user: User | Principal, hours: float) -> dict[str, Any]:
    """An access token for a bot or game server, valid ``hours``."""
    lifetime = timedelta(hours=hours)
    expires_at = datetime.now(UTC) + lifetime
    return {
        "token": access_token_for(user, lifetime),
        "expires_in": int(lifetime.total_seconds()),
        "expires_at": isoformat(expires_at),
    }


def revoke(payload: dict[str, Any]) -> None:
    """Make this token, and every token of the login it came from, unusable from now on, across restarts."""
    revocations = {payload["jti"]: datetime.fromtimestamp(payload["exp"], UTC)}
    if payload.get("sid"):
        # The session's tokens may be minted until its refresh token expires, and live an access lifetime past that.
        config = current_app.config
        outlives = config["JWT_REFRESH_TOKEN_EXPIRES"] + config["JWT_ACCESS_TOKEN_EXPIRES"]
        revocations[session_key(payload["sid"])] = datetime.now(UTC) + outlives
    for key, expires_at in revocations.items():
        if db.session.get(RevokedToken, key) is None:
            db.session.add(RevokedToken(jti=key, expires_at=expires_at.replace(tzinfo=None)))
    db.session.commit()
    for key in revocations:
        auth_cache().revoked(key)


def token_is_dead(payload: dict[str, Any], principal: Principal | None) -> bool:
    """Revoked by logout, by a password change, or by its user being deleted or disabled."""
    return not holds_for(payload, principal) or any(map(auth_cache().is_revoked, revocation_keys(payload)))


def is_expired(payload: dict[str, Any]) -> bool:
    """Whether a token that passed ``authenticate_for_renewal`` is past its ``exp`` (in the renewal grace)."""
    return payload["exp"] <= time.time()
