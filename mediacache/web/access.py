"""Who may call a route: decorators over bearer.authenticate."""

from __future__ import annotations

from functools import wraps

from flask import request

from ..core.errors import DomainError
from ..core.principal import Principal
from .bearer import authenticate, authenticate_for_renewal
from .middleware import CALLER, TOKEN


def _token_required(**check):
    """A decorator letting a request through once ``authenticate(**check)`` accepts its token."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            authenticate(**check)
            return view(*args, **kwargs)

        return wrapper

    return decorator


login_required = _token_required()  # any valid access token; others get 401
refresh_token_required = _token_required(refresh=True)  # POST /api/auth/refresh
any_token_required = _token_required(verify_type=False)  # logout revokes an access or a refresh token


def renewal_allowed(view):
    """Like ``login_required``, but an access token in its renewal grace passes too (POST /api/token only)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        authenticate_for_renewal()
        return view(*args, **kwargs)

    return wrapper


def admin_required(view):
    """Only an admin's valid access token passes; others get 401/403."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not authenticate().is_admin:
            raise DomainError("FORBIDDEN", "This route is for administrators.")
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
