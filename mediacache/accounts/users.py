"""Account operations: authentication, registration and the admin's user management."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..core.errors import DomainError, shown
from ..core.principal import ACCOUNT_LIMITS, ROLE_ADMIN, ROLE_USER, Principal
from ..core.timeutil import utcnow
from ..db.audit import record_activity
from ..db.extensions import db
from ..db.models import User
from ..db.pagination import paginate
from ..db.settings import get_setting
from .authcache import auth_cache

log = logging.getLogger(__name__)

_dummy_hashes: dict[str, str] = {}
_CANONICAL_ID = re.compile(r"[1-9][0-9]*")


def hash_password(password: str) -> str:
    """A slow, salted hash (scrypt unless configured otherwise)."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def _dummy_hash() -> str:
    """A hash of a random password, made once per hash method: what an unknown user's password is checked against."""
    method = current_app.config["PASSWORD_HASH_METHOD"]
    dummy = _dummy_hashes.get(method)
    if dummy is None:
        # Racing first logins may each make one; any of them will do.
        dummy = _dummy_hashes[method] = generate_password_hash(secrets.token_hex(8), method=method)
    return dummy


def _password_matches(user: User | None, password: str) -> bool:
    """Check a password with exactly one hash computation, whether or not the user exists, so timing reveals nothing."""
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(user.password_hash, password)


def find_user_by_name(username: str) -> User | None:
    """The account with this exact username, if any."""
    return db.session.scalar(select(User).where(User.username == username))


def get_user(ref: str | int) -> User:
    """An account by id or by username, else 404.

    A name is looked up first, exactly as given, so an all-digit name created before names needed
    a non-digit stays reachable by it. Only a canonical decimal (no sign, no leading zero) is then
    taken for an id: "003" is never account 3.
    """
    if isinstance(ref, int):
        user = db.session.get(User, ref)
    else:
        user = find_user_by_name(ref)
        # Longer than any real id, and past SQLite's 64-bit integers: simply not found.
        if user is None and _CANONICAL_ID.fullmatch(ref) and len(ref) <= 18:
            user = db.session.get(User, int(ref))
    if user is None:
        raise DomainError("NOT_FOUND", f"No user {shown(str(ref))}.")
    return user


def check_credentials(username: str, password: str) -> User:
    """The account these credentials open, or the error the login route must answer."""
    user = find_user_by_name(username)
    if not _password_matches(user, password):
        record_activity("login_failed", actor=None, target=username)
        db.session.commit()
        raise DomainError("INVALID_CREDENTIALS", "Wrong username or password.")
    if not user.active:
        if user.pending:
            raise DomainError("ACCOUNT_PENDING", "This account is waiting for an administrator's approval.")
        raise DomainError("ACCOUNT_DISABLED", "This account is disabled; ask an administrator.")
    user.last_login_at = utcnow()
    record_activity("login", actor=user.username, target=user.username)
    db.session.commit()
    return user


def _name_taken(username: str) -> bool:
    """Whether an account's name equals this one but for case: ``ADMIN`` next to ``admin`` would pass for it.

    Usernames are ASCII (USERNAME_PATTERN), so SQLite's ASCII-only lower() folds them fully.
    """
    return db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower()).limit(1)) is not None


def _insert_user(username: str, password: str, email: str | None, role: str, *, active: bool = True) -> User:
    if _name_taken(username):
        raise DomainError("USER_EXISTS", f"The username {username!r} is taken; choose another.")
    user = User(username=username, email=email, role=role, active=active, pending=not active)
    user.password_hash = hash_password(password)
    db.session.add(user)
    return user


def register(username: str, password: str, email: str | None) -> User:
    """Self-service sign-up, as the registration setting allows."""
    mode = get_setting("registration")
    if mode == "off":
        raise DomainError(
            "REGISTRATION_DISABLED", "Registration is disabled on this server; ask an administrator for an account."
        )
    user = _insert_user(username, password, email, ROLE_USER, active=mode == "open")
    record_activity("register", actor=username, target=username, mode=mode)
    _commit_unique(username)
    return user


def create_user(
    actor: Principal, username: str, password: str, email: str | None, role: str, limits: dict[str, Any] | None = None
) -> User:
    """An admin creates an account, active at once (``limits``: any of ACCOUNT_LIMITS)."""
    user = _insert_user(username, password, email, role)
    limits = {name: limits[name] for name in ACCOUNT_LIMITS if name in (limits or {})}
    for name, value in limits.items():
        setattr(user, name, value)
    record_activity("user_created", actor=actor.username, target=username, role=role, **limits)
    _commit_unique(username)
    return user


def _commit_unique(username: str) -> None:
    """Commit; a racing insert of the same username becomes the 409 it deserves."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise DomainError("USER_EXISTS", f"The username {username!r} is taken; choose another.") from None


def update_user(actor: Principal, user: User, changes: dict[str, Any]) -> User:
    """Apply an admin's changes; an admin may not lock themself out."""
    if user.id == actor.id and (changes.get("role", ROLE_ADMIN) != ROLE_ADMIN or changes.get("active", True) is False):
        raise DomainError("CANNOT_MODIFY_SELF", "You cannot demote or disable your own account.")
    if "password" in changes:
        user.password_hash = hash_password(changes["password"])
        user.token_version += 1
    for field in ("role", "email", *ACCOUNT_LIMITS):
        if field in changes:
            setattr(user, field, changes[field])
    if "active" in changes:
        if user.active and not changes["active"]:
            # Disabling ends the account's tokens for good: enabling it again must not revive them.
            user.token_version += 1
        user.active = changes["active"]
        if user.active:
            user.pending = False
    logged = {key: value for key, value in changes.items() if key != "password"}
    record_activity(
        "user_updated", actor=actor.username, target=user.username, password_changed="password" in changes, **logged
    )
    db.session.commit()
    auth_cache().forget(user.id)  # a disable, demotion or new password acts on the very next request
    return user


def delete_user(actor: Principal, user: User) -> None:
    """Remove an account; its tokens die with it (their subject no longer exists)."""
    if user.id == actor.id:
        raise DomainError("CANNOT_MODIFY_SELF", "You cannot delete your own account.")
    record_activity("user_deleted", actor=actor.username, target=user.username)
    user_id = user.id
    db.session.delete(user)
    db.session.commit()
    auth_cache().forget(user_id)


def change_password(user_id: int, current_password: str, new_password: str) -> User:
    """Change one's own password; every token issued before stops working."""
    user = get_user(user_id)
    if not check_password_hash(user.password_hash, current_password):
        raise DomainError("INVALID_CREDENTIALS", "The current password is wrong.")
    user.password_hash = hash_password(new_password)
    user.token_version += 1
    record_activity("password_changed", actor=user.username, target=user.username)
    db.session.commit()
    auth_cache().forget(user.id)
    return user


def list_users(filters: dict[str, Any], serialize: Callable[[User], Any]) -> dict[str, Any]:
    """One page of accounts, filtered by role, active and a search term."""
    query = select(User).order_by(User.id)
    if "role" in filters:
        query = query.where(User.role == filters["role"])
    if "active" in filters:
        query = query.where(User.active == filters["active"])
    if filters.get("q"):
        pattern = f"%{filters['q']}%"
        query = query.where(or_(User.username.ilike(pattern), User.email.ilike(pattern)))
    return paginate(query, filters["page"], filters["limit"], serialize)


def ensure_admin() -> None:
    """First start: create the admin account, generating a password if none is configured."""
    _dummy_hash()  # made at start, so even the first login for an unknown name costs one hash like any other
    if db.session.scalar(select(User.id).where(User.role == ROLE_ADMIN).limit(1)) is not None:
        return
    config = current_app.config
    username = config["ADMIN_USERNAME"]
    password = config["ADMIN_PASSWORD"]
    generated = password is None
    if generated:
        password = secrets.token_urlsafe(18)
    existing = find_user_by_name(username)
    if existing is not None:
        # A plain user holds the admin's name: promote it rather than fail start-up.
        existing.role = ROLE_ADMIN
        db.session.commit()
        return
    _insert_user(username, password, None, ROLE_ADMIN)
    record_activity("admin_bootstrapped", actor=None, target=username, generated_password=generated)
    db.session.commit()
    if generated:
        # The one time the password is ever written anywhere; it is not stored in clear.
        log.warning(
            "Created admin account %r with generated password: %s  (shown once; change it with "
            "POST /api/auth/change-password)",
            username,
            password,
        )
    else:
        log.info("Created admin account %r from MEDIACACHE_ADMIN_PASSWORD", username)
