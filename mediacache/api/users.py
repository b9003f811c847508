"""Admin-only user management."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .. import accounts
from ..schemas import UserCreateSchema, UserFilterSchema, UserUpdateSchema, user_schema
from .access import admin_required, me
from .params import load

bp = Blueprint("users", __name__, url_prefix="/api/users")


@bp.get("")
@admin_required
def list_users():
    """Accounts, filtered by role, active and ``q``."""
    return jsonify(accounts.list_users(load(UserFilterSchema())))


@bp.post("")
@admin_required
def create_user():
    """Create an account, active at once."""
    args = load(UserCreateSchema())
    user = accounts.create_user(me(), args["username"], args["password"], args["email"], args["role"])
    return jsonify(user_schema.dump(user)), 201


@bp.get("/<ref>")
@admin_required
def get_user(ref: str):
    """One account by id or username."""
    return jsonify(user_schema.dump(accounts.get_user(ref)))


@bp.route("/<ref>", methods=["PATCH", "PUT"])
@admin_required
def update_user(ref: str):
    """Change role, password, email or active."""
    changes = load(UserUpdateSchema())
    return jsonify(user_schema.dump(accounts.update_user(me(), accounts.get_user(ref), changes)))


@bp.delete("/<ref>")
@admin_required
def delete_user(ref: str):
    """Delete an account; its tokens stop working."""
    accounts.delete_user(me(), accounts.get_user(ref))
    return jsonify(status="deleted")
