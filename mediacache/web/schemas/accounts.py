"""Schemas of accounts: signing in, tokens, registration, the caller's password, and users as admins manage them.

Inputs and answers of routes/auth.py and routes/users.py. Username and password rules are
declared once here, so registration and an admin creating a user refuse the same values.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ...core.principal import ROLES
from .base import Bool, DecimalNumber, FullMatch, InputSchema, PageSchema, UtcDateTime, WholeNumber

# At least one character that is not a digit: an all-digit name would read as a user id in /api/users/<id or name>.
USERNAME_PATTERN = r"^[A-Za-z0-9_.-]*[A-Za-z_.-][A-Za-z0-9_.-]*$"
USERNAME_LENGTH = (3, 32)
MIN_PASSWORD = 8
# Long enough for any passphrase, short enough that hashing it is no DoS.
MAX_PASSWORD = 1024


def username_field(**kwargs) -> fields.String:
    """A username as accounts are created with: 3–32 of [A-Za-z0-9_.-], not digits alone."""
    shortest, longest = USERNAME_LENGTH
    validators = [
        validate.Length(min=shortest, max=longest, error=f"must be {shortest}–{longest} characters"),
        FullMatch(USERNAME_PATTERN, error="must be letters, digits, '_', '.' or '-', and not digits alone"),
    ]
    return fields.String(validate=validators, **kwargs)


def password_field(**kwargs) -> fields.String:
    """A new password: at least 8 characters."""
    error = f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"
    return fields.String(validate=validate.Length(min=MIN_PASSWORD, max=MAX_PASSWORD, error=error), **kwargs)


# --- signing in, tokens, the caller's own account ------------------------------------


class LoginSchema(InputSchema):
    username = fields.String(required=True, validate=validate.Length(max=64))
    password = fields.String(required=True, validate=validate.Length(max=MAX_PASSWORD))


class TokenRequestSchema(InputSchema):
    username = fields.String(load_default=None)
    duration_hours = DecimalNumber(
        load_default=None,
        validate=validate.Range(min=0, min_inclusive=False),
        # The upper bound is a setting: the OpenAPI builder writes it in (x-maximum-setting).
        metadata={"exclusiveMinimum": True, "x-maximum-setting": "MAX_TOKEN_HOURS"},
    )
    error_codes = {"duration_hours": "INVALID_DURATION"}


class ChangePasswordSchema(InputSchema):
    current_password = fields.String(required=True)
    new_password = password_field(required=True)


class RegisterSchema(InputSchema):
    username = username_field(required=True)
    email = fields.Email(load_default=None)
    password = password_field(required=True)


class LoginUserSchema(Schema):
    """The user inside a login answer: who signed in, without the account's limits."""

    id = fields.Integer()
    username = fields.String()
    email = fields.String(allow_none=True)
    role = fields.String()


class LoginResponse(Schema):
    status = fields.String()
    message = fields.String()
    token = fields.String()
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    refresh_token = fields.String()
    user = fields.Nested(LoginUserSchema)


class TokenResponse(Schema):
    token = fields.String()
    expires_in = fields.Integer()
    expires_at = fields.DateTime()


# --- users, as admins manage them ----------------------------------------------------


def account_limit_field(description: str, **kwargs) -> WholeNumber:
    """A per-account limit an admin sets: a count, 0 for unlimited, null for the role's default."""
    return WholeNumber(
        allow_none=True, validate=validate.Range(min=0, max=1_000_000),
        metadata={"description": f"{description}; 0: unlimited; null: the default for the role"}, **kwargs,
    )  # fmt: skip


class AccountLimitsSchema(InputSchema):
    queue_per_minute = account_limit_field("Queue calls per minute")
    lookups_per_minute = account_limit_field("/api/ytdlp look-ups per minute")
    max_pending = account_limit_field("Jobs waiting or running at once")


class UserCreateSchema(RegisterSchema, AccountLimitsSchema):
    role = fields.String(load_default="user", validate=validate.OneOf(ROLES))


class UserUpdateSchema(AccountLimitsSchema):
    role = fields.String(validate=validate.OneOf(ROLES))
    password = password_field()
    email = fields.Email(allow_none=True)
    active = Bool()


class UserFilterSchema(PageSchema):
    role = fields.String(validate=validate.OneOf(ROLES))
    active = Bool()
    q = fields.String(validate=validate.Length(max=100))


class UserSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    email = fields.String(allow_none=True)
    role = fields.String()
    active = fields.Boolean()
    created_at = UtcDateTime()
    last_login_at = UtcDateTime(allow_none=True)
    queue_per_minute = fields.Integer(allow_none=True)
    lookups_per_minute = fields.Integer(allow_none=True)
    max_pending = fields.Integer(allow_none=True)


user_schema = UserSchema()
login_user_schema = LoginUserSchema()
