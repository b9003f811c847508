"""Liveness routes: cheap, unauthenticated."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..timeutil import isoformat, utcnow

bp = Blueprint("system", __name__)


@bp.get("/api/ping")
def ping():
    """The server answers."""
    return jsonify(status="ok", message="server is alive")


@bp.get("/health")
def liveness():
    """Liveness for process supervisors; touches nothing."""
    return jsonify(status="ok", timestamp=isoformat(utcnow()))
