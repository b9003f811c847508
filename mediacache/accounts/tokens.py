"""JWT issuing and revocation, and whether a token's claims still hold for its account.

Reading a token off a request, and the answers to a bad one, are web/'s (web/bearer.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token

from ..core.timeutil import isoformat
from ..db.extensions import db
from ..db.models import RevokedToken, User
from .authcache import Principal, auth_cache, holds_for


def _claims(user: User | Principal) -> dict[str, Any]:
    # "tv" ties the token to the password it was issued under (see User.token_version),
    # "tk" to the account itself, whose id alone may be given to another one later (User.token_key).
    return {"username": user.username, "role": user.role, "tv": user.token_version, "tk": user.token_key}


def access_token_for(user: User | Principal, lifetime: timedelta | None = None) -> str:
    """A signed access token for ``user``."""
    lifetime = lifetime or current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return create_access_token(identity=str(user.id), additional_claims=_claims(user), expires_delta=lifetime)


def session_tokens(user: User | Principal, *, with_refresh: bool = True) -> dict[str, Any]:
    """The token part of a login answer: access token, lifetime and optionally a refresh token."""
    token = access_token_for(user)
    body: dict[str, Any] = {
        "token": token,
        "access_token": token,
        "token_type": "bearer",
        "expires_in": current_app.config["ACCESS_TOKEN_TTL"],
    }
    if with_refresh:
        body["refresh_token"] = create_refresh_token(identity=str(user.id), additional_claims=_claims(user))
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
    """Make this token unusable from now on, across restarts."""
    expires_at = datetime.fromtimestamp(payload["exp"], UTC).replace(tzinfo=None)
    if db.session.get(RevokedToken, payload["jti"]) is None:
        db.session.add(RevokedToken(jti=payload["jti"], expires_at=expires_at))
        db.session.commit()
    auth_cache().revoked(payload["jti"])


def token_is_dead(payload: dict[str, Any], principal: Principal | None) -> bool:
    """Revoked by logout, by a password change, or by its user being deleted or disabled."""
    return not holds_for(payload, principal) or auth_cache().is_revoked(payload["jti"])


def is_expired(payload: dict[str, Any]) -> bool:
    """Whether a token that passed ``authenticate_for_renewal`` is past its ``exp`` (in the renewal grace)."""
    return payload["exp"] <= time.time()
