"""Administration: job queues, batch requeue/purge, capacity, runtime settings, the audit log."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from ..core.errors import DomainError, shown
from ..core.principal import Principal
from ..core.states import RETRYABLE_STATES, RUNNING_STATES
from ..core.timeutil import isoformat
from ..db.audit import record_activity
from ..db.extensions import db
from ..db.models import Activity, Media
from ..db.pagination import paginate
from ..db.settings import RUNTIME_SETTINGS, all_settings, get_setting, store_setting
from ..jobs.runner import get_runner
from ..media import entries, queueing
from ..media.capacity import retained_bytes, used_bytes
from ..media.reconcile import reconcile_storage
from ..sources.cookies import InvalidCookies, delete_cookies, store_cookies


def running_jobs(page: int, limit: int, render) -> dict[str, Any]:
    """Entries whose job is pending or running, oldest first, with their progress."""
    query = select(Media).where(Media.status.in_(RUNNING_STATES)).order_by(Media.created_at, Media.id)
    return paginate(query, page, limit, render)


def failed_jobs(page: int, limit: int, render) -> dict[str, Any]:
    """The dead-letter queue: failed entries (cancelled ones are shown as failed too), newest first."""
    query = select(Media).where(Media.status.in_(RETRYABLE_STATES)).order_by(Media.updated_at.desc(), Media.id)
    return paginate(query, page, limit, render)


def requeue_entries(actor: Principal, ids: list[str]) -> dict[str, list]:
    """Run failed or cancelled entries again; others are reported as skipped with the reason."""
    requeued, skipped = [], []
    for media_id in ids:
        try:
            queueing.retry(actor, media_id)
            requeued.append(media_id)
        except DomainError as exc:
            skipped.append({"id": media_id, "code": exc.code, "message": exc.message})
    return {"requeued": requeued, "skipped": skipped}


def purge_entries(actor: Principal, ids: list[str]) -> dict[str, list]:
    """Hard-delete entries (cancelling running jobs)."""
    purged, skipped = [], []
    for media_id in ids:
        try:
            entries.delete(actor, media_id, hard=True, force=True)
            purged.append(media_id)
        except DomainError as exc:
            skipped.append({"id": media_id, "code": exc.code, "message": exc.message})
    return {"purged": purged, "skipped": skipped}


def capacity(measure_disk: bool = False) -> dict[str, Any]:
    """Bytes live, retained and free, against the configured quota."""
    config = current_app.config
    live = used_bytes() - retained_bytes()
    retained = retained_bytes()
    usage = shutil.disk_usage(config["STATIC_CACHE"])
    quota = config["MAX_CACHE_BYTES"] or None
    report = {
        "bytes_live": live,
        "bytes_retained": retained,
        "bytes_used": live + retained,
        "disk_free": usage.free,
        "disk_total": usage.total,
        "quota_bytes": quota,
        "quota_used_percent": round((live + retained) / quota * 100, 2) if quota else None,
        "disk_used_percent": round((usage.total - usage.free) / usage.total * 100, 2),
    }
    if measure_disk:
        report["measured"] = {
            "static_cache": _folder_bytes(Path(config["STATIC_CACHE"])),
            "private_cache": _folder_bytes(Path(config["PRIVATE_CACHE"])),
        }
    return report


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def probe_capacity() -> dict[str, Any]:
    """Reconcile disk and database now, then measure what is really on disk."""
    reconciled = reconcile_storage()
    return capacity(measure_disk=True) | {"reconciled": reconciled}


def settings_view() -> dict[str, Any]:
    """Every runtime setting with its value in force and its configured default."""
    return {key: {"value": value, "default": current_app.config[key.upper()]} for key, value in all_settings().items()}


def change_setting(actor: Principal, key: str, value: Any) -> dict[str, Any]:
    """Validate and persist one runtime setting; it takes effect at once."""
    if key not in RUNTIME_SETTINGS:
        raise DomainError("NOT_FOUND", f"No runtime setting {shown(key)}; use one of: {', '.join(RUNTIME_SETTINGS)}.")
    if value is None:
        raise DomainError("INVALID_SETTING", 'Send the new value as {"value": …}.')
    try:
        parsed = RUNTIME_SETTINGS[key](value)
    except (TypeError, ValueError) as exc:
        raise DomainError("INVALID_SETTING", f"{key}: {exc}") from None
    ttls = {"default_ttl": get_setting("default_ttl"), "max_ttl": get_setting("max_ttl"), key: parsed}
    if ttls["default_ttl"] > ttls["max_ttl"]:
        raise DomainError("INVALID_SETTING", "default_ttl cannot exceed max_ttl.")
    previous = get_setting(key)
    store_setting(key, parsed)
    if key == "workers":
        get_runner(current_app).resize(parsed)
    record_activity("setting_changed", actor=actor.username, target=key, old=previous, new=parsed)
    db.session.commit()
    return {"key": key, "value": parsed, "previous": previous}


def activity_page(filters: dict[str, Any]) -> dict[str, Any]:
    """One page of the audit log, newest first."""
    query = select(Activity).order_by(Activity.created_at.desc(), Activity.id.desc())
    for name in ("action", "actor"):
        if filters.get(name):
            query = query.where(getattr(Activity, name) == filters[name])
    return paginate(query, filters["page"], filters["limit"], _render_activity)


def _render_activity(entry: Activity) -> dict[str, Any]:
    return {
        "id": entry.id,
        "time": isoformat(entry.created_at),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "address": entry.address,
        "details": entry.details,
    }


def upload_cookies(actor: Principal, text: str) -> dict[str, Any]:
    """Validate and store an uploaded cookies.txt for yt-dlp; the next job uses it. Audit-logged without values."""
    try:
        summary = store_cookies(current_app.config, text)
    except InvalidCookies as exc:
        raise DomainError(
            "INVALID_COOKIES",
            f"{exc}. Export cookies.txt in Netscape format (e.g. yt-dlp --cookies-from-browser "
            "… --cookies cookies.txt) and upload it as the request body.",
        ) from None
    domains = [entry["domain"] for entry in summary["domains"]]
    record_activity("cookies_uploaded", actor=actor.username, target="cookies.txt", domains=domains[:50])
    db.session.commit()
    return {"present": True, **summary}


def remove_cookies(actor: Principal) -> bool:
    """Delete the uploaded cookies.txt (audit-logged); False if there was none."""
    removed = delete_cookies(current_app.config)
    record_activity("cookies_deleted", actor=actor.username, target="cookies.txt", existed=removed)
    db.session.commit()
    return removed
