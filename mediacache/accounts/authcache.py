"""What token checks need to know about accounts, without a database query on every request.

A poll loop presents the same token many times a second. Accounts and revocations are
kept in memory for a few seconds; this process forgets an account the moment it
changes it (so logout, password change, disable and delete act at once here), and the
short lifetime bounds how long a change made elsewhere (the CLI) takes to be seen: at
most LIFETIME seconds, and one more for polls on the main loop, which may go on from
memory while one of them re-reads it (``vouches_for``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import Flask, current_app
from sqlalchemy import select

from ..core.principal import Principal
from ..core.refreshing import Refreshing
from ..core.timeutil import utcnow
from ..db.extensions import db
from ..db.models import RevokedToken, User

EXTENSION_KEY = "mediacache.authcache"
LIFETIME = 5.0


class AuthCache:
    """Accounts by id and revoked token ids, each remembered for LIFETIME seconds."""

    def __init__(self, app: Flask) -> None:
        self._lock = threading.Lock()
        self._principals: dict[int, tuple[float, Principal | None]] = {}
        self._revoked: set[str] = set()
        self._revoked_loaded_at = float("-inf")
        # What LIFETIME is measured on; a test moves it on to let every account and revocation lapse.
        self.clock: Callable[[], float] = time.monotonic
        self._refreshing = Refreshing(clock=lambda: self.clock())
        app.extensions[EXTENSION_KEY] = self

    def principal(self, user_id: int) -> Principal | None:
        """The account, or None if it no longer exists."""
        now = self.clock()
        cached = self._principals.get(user_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        user = db.session.get(User, user_id)
        principal = None
        if user is not None:
            principal = Principal(
                user.id, user.username, user.email, user.role, user.active, user.token_version, user.token_key,
                user.queue_per_minute, user.lookups_per_minute, user.max_pending,
            )  # fmt: skip
        with self._lock:
            self._principals[user_id] = (now + LIFETIME, principal)
        return principal

    def vouches_for(self, payload: dict, *, or_stale: bool = False) -> Principal | None:
        """The token's account if fresh memory alone shows the token still holds; None if it does not, or cannot say.

        For answers that must not wait on the database (a poll answered on the server's main
        loop): a stale or missing entry sends the request down the path that reads it.
        ``or_stale``: stale memory will do while another caller reads it afresh (refreshing.py).
        """
        now = self.clock()
        user_id = int(payload["sub"])
        cached = self._principals.get(user_id)
        if cached is None:
            return None
        revoked_fresh = now - self._revoked_loaded_at <= LIFETIME
        if not (
            self._refreshing.may_use(user_id, fresh=cached[0] > now, or_stale=or_stale)
            and self._refreshing.may_use("revoked", fresh=revoked_fresh, or_stale=or_stale)
        ):
            return None
        principal = cached[1]
        if not holds_for(payload, principal) or not self._revoked.isdisjoint(revocation_keys(payload)):
            return None
        return principal

    def forget(self, user_id: int) -> None:
        """Drop an account this process just changed, so the next request reads it afresh."""
        with self._lock:
            self._principals.pop(user_id, None)

    def is_revoked(self, jti: str) -> bool:
        """Whether a token was logged out."""
        now = self.clock()
        if now - self._revoked_loaded_at > LIFETIME:
            rows = db.session.scalars(select(RevokedToken.jti).where(RevokedToken.expires_at > utcnow())).all()
            with self._lock:
                self._revoked = set(rows) | {jti for jti in self._revoked if jti in rows}
                self._revoked_loaded_at = now
        return jti in self._revoked

    def revoked(self, jti: str) -> None:
        """Remember a revocation this process just stored."""
        with self._lock:
            self._revoked.add(jti)


def session_key(session: str) -> str:
    """How a logged-out session is recorded beside revoked token ids."""
    return f"sid:{session}"


def revocation_keys(payload: dict) -> tuple[str, ...]:
    """The ids under which this token may have been revoked: its own, and its login's."""
    return (payload["jti"], session_key(payload["sid"])) if payload.get("sid") else (payload["jti"],)


def holds_for(payload: dict, principal: Principal | None) -> bool:
    """Whether a token's account still accepts it: the very account it was issued to, active, with the same password."""
    return (
        principal is not None
        and principal.active
        and payload.get("tk") == principal.token_key
        and payload.get("tv") == principal.token_version
    )


def auth_cache(app: Flask | None = None) -> AuthCache:
    """The app's cache."""
    return (app or current_app).extensions[EXTENSION_KEY]
