"""Who may call a route: decorators over bearer.authenticate."""

from __future__ import annotations

from functools import wraps

from flask import current_app, request

from ..core.errors import DomainError
from ..core.principal import Principal
from ..db.extensions import limiter
from .bearer import authenticate, authenticate_for_logout, authenticate_for_renewal
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


def _authenticated_by(authenticate):
    """A view decorator that lets ``authenticate()`` (which raises on a refused token) vet the request first."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            authenticate()
            return view(*args, **kwargs)

        return wrapper

    return decorator


# Like login_required, but an access token in its renewal grace passes too (POST /api/token only).
renewal_allowed = _authenticated_by(authenticate_for_renewal)
# Any access or refresh token passes, expired or not, if it would otherwise (POST /api/auth/logout only).
logout_allowed = _authenticated_by(authenticate_for_logout)


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


def _account_rate(name: str, setting: str) -> str | None:
    """The caller's rate for ``name``: its own per minute if an admin set one, else its role's; None: unlimited."""
    rate = me().limit(name, current_app.config[setting])
    if isinstance(rate, int):
        return f"{rate} per minute" if rate else None
    return rate


def limited_per_account(name: str, setting: str):
    """A per-account rate limit: ``setting`` unless the account has its own (``name``); none for a service account.

    Below ``login_required``, so the caller is known when the limit is worked out.
    """
    return limiter.limit(
        # Never counted when exempt; a placeholder, since the limiter asks for the value first.
        lambda: _account_rate(name, setting) or current_app.config[setting],
        key_func=per_user_key,
        exempt_when=lambda: _account_rate(name, setting) is None,
    )
