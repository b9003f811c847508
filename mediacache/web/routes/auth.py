"""Login, tokens, logout, password change, registration and the caller's own account."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from ...accounts import tokens
from ...accounts import users as accounts
from ...core.errors import DomainError
from ...db.extensions import limiter
from ..access import (
    login_required,
    logout_allowed,
    me,
    presented_token,
    refresh_token_required,
    renewal_allowed,
)
from ..openapi import documented
from ..params import load
from ..schemas.accounts import (
    ChangePasswordSchema,
    LoginResponse,
    LoginSchema,
    RegisterSchema,
    TokenRequestSchema,
    TokenResponse,
    UserSchema,
    login_user_schema,
    user_schema,
)

bp = Blueprint("auth", __name__, url_prefix="/api")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _register_limit() -> str:
    return current_app.config["REGISTER_RATE_LIMIT"]


# Only failed attempts count, so a busy game server logging in often is never locked out.
@bp.post("/login")
@bp.post("/auth/login")
@limiter.limit(_login_limit, deduct_when=lambda response: response.status_code == 401)
@documented(
    "Log in with a username and password",
    params=LoginSchema,
    response=LoginResponse,
    auth="none",
    errors=("VALIDATION_ERROR", "INVALID_CREDENTIALS", "ACCOUNT_PENDING", "ACCOUNT_DISABLED", "RATE_LIMITED"),
)
def login():
    """Exchange a username and password for an access and a refresh token."""
    credentials = load(LoginSchema())
    user = accounts.check_credentials(credentials["username"], credentials["password"])
    return jsonify(
        status="success", message="Login successful!", **tokens.session_tokens(user), user=login_user_schema.dump(user)
    )


@bp.post("/auth/refresh")
@refresh_token_required
@documented(
    "A new access token for a refresh token (Authorization: Bearer <refresh_token>)",
    response=LoginResponse,
    auth="refresh",
)
def refresh():
    """A new access token for a valid refresh token."""
    return jsonify(
        status="success",
        message="Token refreshed.",
        **tokens.session_tokens(me(), refreshed_from=presented_token()),
        user=login_user_schema.dump(me()),
    )


@bp.post("/token")
@renewal_allowed
@documented(
    "Mint a long-lived access token (at most 30 days); renews one's own token shortly after it expired",
    params=TokenRequestSchema,
    response=TokenResponse,
    errors=("INVALID_DURATION", "FORBIDDEN", "NOT_FOUND"),
)
def long_lived_token():
    """Mint a long-lived access token for oneself, or (admins) for another user."""
    args = load(TokenRequestSchema())
    caller = me()
    user = caller
    if args["username"] and args["username"] != caller.username:
        if tokens.is_expired(presented_token()):
            raise DomainError("TOKEN_EXPIRED", "An expired token may only renew itself; log in again.")
        if not caller.is_admin:
            raise DomainError("FORBIDDEN", "Only an administrator may mint a token for another user.")
        user = accounts.get_user(args["username"])
    max_hours = current_app.config["MAX_TOKEN_HOURS"]
    hours = args["duration_hours"] or max_hours
    if hours > max_hours:
        raise DomainError("INVALID_DURATION", f"duration_hours must be at most {max_hours} (30 days).")
    return jsonify(tokens.long_lived_token(user, hours))


@bp.post("/auth/logout")
@logout_allowed
@documented(
    "End the login the presented token belongs to: its access and refresh tokens stop working "
    "(an expired token still signs its login out)",
    status=204,
)
def logout():
    """Revoke the presented token and the other tokens of its login."""
    tokens.revoke(presented_token())
    return "", 204


@bp.post("/auth/change-password")
@login_required
@documented(
    "Change one's password; every older token stops working",
    params=ChangePasswordSchema,
    response=LoginResponse,
    # 403, not 401: the token is fine, the password given is not (a client must not drop its token over it).
    extra_responses={403: ("The current password is wrong: INVALID_CREDENTIALS.", "ErrorEnvelope")},
)
def change_password():
    """Change one's password; all older tokens stop working and fresh ones are returned."""
    args = load(ChangePasswordSchema())
    user = accounts.change_password(me().id, args["current_password"], args["new_password"])
    return jsonify(
        status="success", message="Password changed.", **tokens.session_tokens(user), user=login_user_schema.dump(user)
    )


@bp.post("/register")
@limiter.limit(_register_limit)
@documented(
    "Create an account (when registration is approval or open)",
    params=RegisterSchema,
    status=201,
    auth="none",
    errors=("VALIDATION_ERROR", "REGISTRATION_DISABLED", "USER_EXISTS", "RATE_LIMITED"),
)
def register():
    """Create an account if the registration setting allows it."""
    args = load(RegisterSchema())
    user = accounts.register(args["username"], args["password"], args["email"])
    return jsonify(status="success", user=user_schema.dump(user), pending=not user.active), 201


@bp.get("/users/me")
@login_required
@documented("The caller's user object", response=UserSchema)
def current_account():
    """The caller's own user object."""
    return jsonify(user_schema.dump(accounts.get_user(me().id)))


@bp.get("/user_info")
@login_required
@documented("The caller's username (legacy shape)")
def user_info():
    """The caller's username, in the legacy shape."""
    return jsonify(status="success", user=me().username)
