"""Who may call a route: decorators over flask-jwt-extended."""

from __future__ import annotations

from functools import wraps

from flask_jwt_extended import current_user, get_jwt_identity, jwt_required

from ..authcache import Principal
from ..errors import Forbidden

login_required = jwt_required()


def admin_required(view):
    """Only an admin's valid access token passes; others get 401/403."""

    @wraps(view)
    @jwt_required()
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            raise Forbidden("This route is for administrators.", code="FORBIDDEN")
        return view(*args, **kwargs)

    return wrapper


def me() -> Principal:
    """The account behind the current request's token."""
    return current_user


def per_user_key() -> str:
    """Rate-limit key for routes behind a token: the account, wherever it connects from."""
    return f"user:{get_jwt_identity()}"
