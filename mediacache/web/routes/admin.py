"""Administration routes: audit log, jobs, capacity, sweeps, runtime settings."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ...media import lifecycle
from ...ops import admin as operations
from ...sources.cookies import cookie_summary
from ..access import admin_required, me
from ..openapi import documented
from ..params import load, render_for_request
from ..schemas.base import PageSchema, page_of
from ..schemas.media import MediaSchema
from ..schemas.service import ActivityFilterSchema, IdsSchema, SettingValueSchema

bp = Blueprint("admin", __name__, url_prefix="/api")


@bp.get("/admin/activity")
@admin_required
@documented("Audit log: logins, user changes, deletions, settings changes", params=ActivityFilterSchema, auth="admin")
def activity():
    """Audit log."""
    return jsonify(operations.activity_page(load(ActivityFilterSchema())))


@bp.get("/admin/jobs")
@admin_required
@documented("Pending and running jobs with their progress", params=PageSchema, response=page_of(MediaSchema),
            auth="admin")  # fmt: skip
def jobs():
    """Pending and running jobs."""
    args = load(PageSchema())
    return jsonify(operations.running_jobs(args["page"], args["limit"], render_for_request))


@bp.get("/admin/jobs/dlq")
@admin_required
@documented("Failed entries (the dead-letter queue)", params=PageSchema, response=page_of(MediaSchema), auth="admin")
def dead_letters():
    """Failed entries."""
    args = load(PageSchema())
    return jsonify(operations.failed_jobs(args["page"], args["limit"], render_for_request))


@bp.post("/admin/jobs/requeue")
@admin_required
@documented("Run failed or cancelled entries again", params=IdsSchema, auth="admin", errors=("VALIDATION_ERROR",))
def requeue():
    """Requeue by ids."""
    return jsonify(operations.requeue_entries(me(), load(IdsSchema())["ids"]))


@bp.post("/admin/jobs/purge")
@admin_required
@documented("Hard-delete entries by id", params=IdsSchema, auth="admin", errors=("VALIDATION_ERROR",))
def purge():
    """Purge by ids."""
    return jsonify(operations.purge_entries(me(), load(IdsSchema())["ids"]))


@bp.get("/admin/capacity")
@admin_required
@documented("Bytes live, retained and free; quota use in percent", auth="admin")
def capacity():
    """Capacity report."""
    return jsonify(operations.capacity())


@bp.post("/admin/capacity/probe-now")
@admin_required
@documented("Reconcile disk and database, then measure the cache folders", auth="admin")
def probe_capacity():
    """Reconcile and measure now."""
    return jsonify(operations.probe_capacity())


@bp.post("/admin/sweep")
@admin_required
@documented("Run expiry and retention purge now", auth="admin")
def sweep():
    """Run the sweeps now."""
    return jsonify(status="success", **lifecycle.run_sweep())


@bp.get("/settings")
@admin_required
@documented("Runtime settings with their values in force and defaults", auth="admin")
def settings():
    """Runtime settings."""
    return jsonify(operations.settings_view())


@bp.put("/settings/<key>")
@admin_required
@documented("Change one runtime setting; it takes effect without a restart", params=SettingValueSchema,
            auth="admin", errors=("INVALID_SETTING", "NOT_FOUND"))  # fmt: skip
def change_setting(key: str):
    """Change a runtime setting."""
    return jsonify(operations.change_setting(me(), key, load(SettingValueSchema())["value"]))


@bp.get("/admin/cookies")
@admin_required
@documented("Domains and expiry dates of the uploaded cookies.txt yt-dlp sends (never the values)", auth="admin")
def cookies():
    """What the uploaded cookies hold."""
    return jsonify(cookie_summary(current_app.config))


@bp.put("/admin/cookies")
@admin_required
@documented("Upload a Netscape cookies.txt for yt-dlp (the body, or a form field or JSON key 'cookies'); "
            "used by the next job", auth="admin", errors=("INVALID_COOKIES",))  # fmt: skip
def upload_cookies():
    """Replace the cookies yt-dlp sends."""
    return jsonify(operations.upload_cookies(me(), _cookie_text()))


@bp.delete("/admin/cookies")
@admin_required
@documented("Delete the uploaded cookies.txt; jobs go on without cookies (or with MEDIACACHE_YTDLP_COOKIES)",
            auth="admin", status=204)  # fmt: skip
def delete_cookies():
    """Forget the uploaded cookies."""
    operations.remove_cookies(me())
    return "", 204


def _cookie_text() -> str:
    """The cookies.txt from a file upload, a form or JSON field ``cookies``, or the raw body."""
    upload = request.files.get("cookies") or request.files.get("file")
    if upload is not None:
        return upload.read().decode("utf-8", errors="replace")
    if request.form.get("cookies"):
        return request.form["cookies"]
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        return str(body.get("cookies") or "")
    return request.get_data(as_text=True)
