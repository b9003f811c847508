"""marshmallow schemas for every input and output of the API."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from .models import ROLES
from .timeutil import isoformat

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,32}$"
MIN_PASSWORD = 8
# Long enough for any passphrase, short enough that hashing it is no DoS.
MAX_PASSWORD = 1024


class Bool(fields.Field):
    """A boolean from JSON or text: true/false/1/0/yes/no in any case."""

    TRUE = {"true", "1", "yes"}
    FALSE = {"false", "0", "no"}

    def _deserialize(self, value: Any, attr, data, **kwargs) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValidationError(f"expected a boolean (true/false/1/0/yes/no), got {value!r}")


class UtcDateTime(fields.Field):
    """A stored UTC time rendered ISO 8601 with a Z."""

    def _serialize(self, value, attr, obj, **kwargs):
        return isoformat(value)


class InputSchema(Schema):
    """Inputs ignore unknown parameters: clients send extras and must not break."""

    class Meta:
        unknown = EXCLUDE


def username_field(**kwargs) -> fields.String:
    """A username as accounts are created with: 3–32 of [A-Za-z0-9_.-]."""
    error = "must be 3–32 characters of letters, digits, '_', '.' or '-'"
    return fields.String(validate=validate.Regexp(USERNAME_PATTERN, error=error), **kwargs)


def password_field(**kwargs) -> fields.String:
    """A new password: at least 8 characters."""
    error = f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"
    return fields.String(validate=validate.Length(min=MIN_PASSWORD, max=MAX_PASSWORD, error=error), **kwargs)


class LoginSchema(InputSchema):
    username = fields.String(required=True, validate=validate.Length(max=64))
    password = fields.String(required=True, validate=validate.Length(max=MAX_PASSWORD))


class TokenRequestSchema(InputSchema):
    username = fields.String(load_default=None)
    duration_hours = fields.Float(load_default=None, validate=validate.Range(min=0, min_inclusive=False))
    error_codes = {"duration_hours": "INVALID_DURATION"}


class ChangePasswordSchema(InputSchema):
    current_password = fields.String(required=True)
    new_password = password_field(required=True)


class RegisterSchema(InputSchema):
    username = username_field(required=True)
    email = fields.Email(load_default=None)
    password = password_field(required=True)


class UserCreateSchema(RegisterSchema):
    role = fields.String(load_default="user", validate=validate.OneOf(ROLES))


class UserUpdateSchema(InputSchema):
    role = fields.String(validate=validate.OneOf(ROLES))
    password = password_field()
    email = fields.Email(allow_none=True)
    active = Bool()


class PageSchema(InputSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1))


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
    last_login_at = UtcDateTime()


class LoginUserSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    email = fields.String(allow_none=True)
    role = fields.String()


user_schema = UserSchema()
login_user_schema = LoginUserSchema()
