"""Admin-only user management."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ...accounts import users as accounts
from ..access import admin_required, me
from ..openapi import documented
from ..params import load
from ..schemas.accounts import UserCreateSchema, UserFilterSchema, UserSchema, UserUpdateSchema, user_schema
from ..schemas.base import page_of

bp = Blueprint("users", __name__, url_prefix="/api/users")


@bp.get("")
@admin_required
@documented(
    "Accounts (filters role, active, q)",
    params=UserFilterSchema,
    response=page_of(UserSchema),
    auth="admin",
    errors=("VALIDATION_ERROR",),
)
def list_users():
    """Accounts, filtered by role, active and ``q``."""
    return jsonify(accounts.list_users(load(UserFilterSchema()), user_schema.dump))


@bp.post("")
@admin_required
@documented(
    "Create an account",
    params=UserCreateSchema,
    response=UserSchema,
    status=201,
    auth="admin",
    errors=("VALIDATION_ERROR", "USER_EXISTS"),
)
def create_user():
    """Create an account, active at once."""
    args = load(UserCreateSchema())
    user = accounts.create_user(me(), args["username"], args["password"], args["email"], args["role"], args)
    return jsonify(user_schema.dump(user)), 201


@bp.get("/<ref>")
@admin_required
@documented("One account by id or username", response=UserSchema, auth="admin", errors=("NOT_FOUND",))
def get_user(ref: str):
    """One account by id or username."""
    return jsonify(user_schema.dump(accounts.get_user(ref)))


@bp.route("/<ref>", methods=["PATCH", "PUT"])
@admin_required
@documented(
    "Change role, password, email, active or the account's limits (queue_per_minute, lookups_per_minute, "
    "max_pending; 0: unlimited, null: the role's default)",
    params=UserUpdateSchema,
    response=UserSchema,
    auth="admin",
    errors=("VALIDATION_ERROR", "NOT_FOUND", "CANNOT_MODIFY_SELF"),
)
def update_user(ref: str):
    """Change role, password, email, active or the account's own limits."""
    changes = load(UserUpdateSchema())
    return jsonify(user_schema.dump(accounts.update_user(me(), accounts.get_user(ref), changes)))


@bp.delete("/<ref>")
@admin_required
@documented("Delete an account; its tokens stop working", auth="admin", errors=("NOT_FOUND", "CANNOT_MODIFY_SELF"))
def delete_user(ref: str):
    """Delete an account; its tokens stop working."""
    accounts.delete_user(me(), accounts.get_user(ref))
    return jsonify(status="deleted")
