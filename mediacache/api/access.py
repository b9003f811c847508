"""Who may call a route: decorators over tokens.authenticate."""

from __future__ import annotations

from functools import wraps

from flask import request

from ..authcache import Principal
from ..errors import Forbidden
from ..requestcycle import CALLER, TOKEN
from ..tokens import authenticate


def login_required(view):
    """Any valid access token passes; others get 401."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        authenticate()
        return view(*args, **kwargs)

    return wrapper


def refresh_token_required(view):
    """Only a valid refresh token passes (POST /api/auth/refresh)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        authenticate(refresh=True)
        return view(*args, **kwargs)

    return wrapper


def any_token_required(view):
    """An access or a refresh token (logout revokes either)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        authenticate(verify_type=False)
        return view(*args, **kwargs)

    return wrapper


def admin_required(view):
    """Only an admin's valid access token passes; others get 401/403."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not authenticate().is_admin:
            raise Forbidden("This route is for administrators.", code="FORBIDDEN")
        return view(*args, **kwargs)

    return wrapper


def me() -> Principal:
    """The account behind the current request's token."""
    return request.environ[CALLER]


def presented_token() -> dict:
    """The claims of the current request's token."""
    return request.environ[TOKEN]


def per_user_key() -> str:
    """Rate-limit key for routes behind a token: the account, wherever it connects from."""
    return f"user:{me().id}"
