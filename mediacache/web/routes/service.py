"""Service routes for operators: health, stats, request logs, metrics, the API document."""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, Response, current_app, jsonify

from ...core import names
from ...core.errors import DomainError
from ...ops import health, reporting
from ...ops.metrics import get_metrics
from .. import openapi
from ..access import login_required, me
from ..bearer import authenticate
from ..openapi import documented
from ..params import load
from ..schemas.service import DailyStatsSchema, LogFilterSchema
from .files import content_disposition

bp = Blueprint("service", __name__)


@bp.get("/api/health")
@documented("Readiness: database, disk, ffmpeg, yt-dlp, scheduler, workers, deployment (503 when unhealthy)",
            auth="none",
            extra_responses={503: "Unhealthy; the body says which check failed."})  # fmt: skip
def readiness():
    """Readiness checks."""
    report = health.health_report()
    return jsonify(report), 503 if report["status"] == "unhealthy" else 200


@bp.route("/api/stats", methods=["GET", "POST"])
@login_required
@documented("Conversions by profile, format and status; cache counts and bytes")
def stats():
    """Conversion and cache statistics."""
    return jsonify(reporting.conversion_stats())


@bp.get("/api/stats/daily")
@login_required
@documented("Queue calls and file hits per UTC day over the last `days` days (default 30), oldest first",
            params=DailyStatsSchema)  # fmt: skip
def daily_stats():
    """Queued and served per day, for the dashboard's charts."""
    return jsonify(reporting.daily_activity(load(DailyStatsSchema())["days"]))


@bp.route("/api/logs", methods=["GET", "POST"])
@login_required
@documented("The caller's request log: text attachment by default, JSON with format=json", params=LogFilterSchema,
            content_type=("text/plain", "application/json"), errors=("FORBIDDEN",))  # fmt: skip
def request_log():
    """The caller's request log (admins may name another user)."""
    args = load(LogFilterSchema())
    caller = me()
    username = caller.username
    if args["user"] and args["user"] != caller.username:
        if not caller.is_admin:
            raise DomainError("FORBIDDEN", "Only an administrator may read another user's log.")
        username = None if args["user"] == "*" else args["user"]
    since, until = (_naive_utc(args["since"]), _naive_utc(args["until"]))
    if args["format"] == "json":
        page = reporting.request_log_page(username, since, until, args["page"], args["limit"], args["media_id"])
        return jsonify(page)
    text = reporting.request_log_text(username, since, until, args["media_id"])
    # ``user`` is whatever the admin typed, not a checked username: named the way downloads are named.
    name = names.attachment_name(None, f"mediacache-requests-{username or 'all'}", "log")
    disposition = content_disposition("attachment", name, "mediacache-requests")
    return Response(text, mimetype="text/plain", headers={"Content-Disposition": disposition})


def _naive_utc(moment):
    return moment.astimezone(UTC).replace(tzinfo=None) if moment and moment.tzinfo else moment


@bp.get("/metrics")
@documented("Prometheus metrics (admin token, or open when MEDIACACHE_METRICS_PUBLIC=true)",
            content_type="text/plain", auth="admin")  # fmt: skip
def metrics():
    """Prometheus text format."""
    if not current_app.config["METRICS_PUBLIC"] and not authenticate().is_admin:
        raise DomainError("FORBIDDEN", "Metrics are for administrators (or set MEDIACACHE_METRICS_PUBLIC=true).")
    return Response(get_metrics().exposition(), mimetype="text/plain; version=0.0.4")


@bp.get("/api/openapi.json")
@documented("This OpenAPI 3 document", auth="none")
def openapi_document():
    """The OpenAPI document."""
    document = current_app.extensions.get("mediacache.openapi")
    if document is None:
        document = current_app.extensions["mediacache.openapi"] = openapi.build_spec(current_app)
    return jsonify(document)


@bp.get("/api/docs")
@documented("The API document rendered for people", content_type="text/html", auth="none")
def docs():
    """Swagger UI over /api/openapi.json."""
    return Response(openapi.DOCS_PAGE, mimetype="text/html", headers={"Content-Security-Policy": openapi.DOCS_CSP})


@bp.get("/api/docs/init.js")
@documented("Start-up script of the docs page", content_type="application/javascript", auth="none")
def docs_script():
    """Kept out of the page so the page's CSP needs no inline script."""
    return Response(openapi.DOCS_INIT, mimetype="application/javascript")
