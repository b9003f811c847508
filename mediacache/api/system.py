"""Service routes: liveness and what this server offers."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from .. import __version__, entries
from ..openapi import ServiceInfo, documented
from ..pagination import MAX_LIMIT
from ..presenter import public_roots
from ..profiles import PROFILES
from ..schemas import MAX_EXTRA_BYTES
from ..settings import get_setting
from ..timeutil import isoformat, utcnow

bp = Blueprint("system", __name__)


@bp.get("/api/ping")
@documented("The server answers", auth="none")
def ping():
    """The server answers."""
    return jsonify(status="ok", message="server is alive")


@bp.get("/health")
@documented("Liveness for process supervisors", auth="none")
def liveness():
    """Liveness for process supervisors; touches nothing."""
    return jsonify(status="ok", timestamp=isoformat(utcnow()))


@bp.get("/api")
@bp.get("/api/")
@documented("What this server offers: profiles by name, limits, file roots, cache counts (up to a second old)",
            response=ServiceInfo, auth="none")  # fmt: skip
def service_info():
    """What this server offers: profiles, limits, where files are served, cache counts; from memory alone."""
    return jsonify(
        status="OK",
        version=__version__,
        # Keyed by name, as in the original service: clients look a profile up by its name.
        media_profiles={name: profile.describe() for name, profile in PROFILES.items()},
        default_profile=current_app.config["DEFAULT_PROFILE"],
        cache_stats=entries.recent_cache_stats(),
        cache_endpoints=list(public_roots()),
        limits={
            "default_ttl": get_setting("default_ttl"),
            "max_ttl": get_setting("max_ttl"),
            "retention_days": get_setting("retention_days"),
            "max_duration": get_setting("max_duration"),
            "max_filesize": get_setting("max_filesize"),
            "workers": get_setting("workers"),
            "max_extra_bytes": MAX_EXTRA_BYTES,
            "max_page_size": MAX_LIMIT,
        },
    )
