"""Readiness checks for /api/health: database, disk, ffmpeg, yt-dlp, network guard, workers, patches, …"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import text
from yt_dlp.version import __version__ as yt_dlp_version

from ..db.database import damaged_since
from ..db.extensions import db
from ..jobs.runner import get_runner
from ..jobs.scheduler import SCHEDULER_KEY
from ..patches import report
from ..sources.ffmpeg import find_ffmpeg
from ..sources.jsruntime import js_runtime_report
from ..sources.netguard import GUARDED_HANDLERS
from ..sources.site_status import check_extractors
from ..sources.ytdlp_downloader import guard_self_check

LOW_DISK_BYTES = 1024**3  # below this the service still works, but says it is degraded
_FFMPEG_VERSION_TTL = 300
_ffmpeg_version: dict[str, tuple[float, str]] = {}


def _check(name: str, function) -> dict[str, Any]:
    try:
        return function()
    except Exception as exc:  # a health check reports failures, it never raises them
        return {"status": "unhealthy", "error": f"{type(exc).__name__}: {exc}"[:300]}


def check_database() -> dict[str, Any]:
    """The database answers a query, and no query has found a damaged page since start."""
    damage = damaged_since(current_app)
    if damage is not None:
        return {"status": "unhealthy", "error": f"the database file is damaged ({damage}); "
                "restore it from a backup, or move it aside to start fresh, then restart"}  # fmt: skip
    started = time.perf_counter()
    db.session.execute(text("SELECT 1"))
    return {"status": "healthy", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def check_disk() -> dict[str, Any]:
    """Both cache folders are writable; free space is reported."""
    folders = {}
    for key in ("STATIC_CACHE", "PRIVATE_CACHE"):
        folder = Path(current_app.config[key])
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".health-"):
            pass
        usage = shutil.disk_usage(folder)
        folders[key.lower()] = {"free_bytes": usage.free, "total_bytes": usage.total}
    free = min(item["free_bytes"] for item in folders.values())
    status = "degraded" if free < LOW_DISK_BYTES else "healthy"
    return {"status": status, "free_bytes": free, "folders": folders}


def check_ffmpeg() -> dict[str, Any]:
    """ffmpeg is found and runs."""

    path = find_ffmpeg(current_app.config["FFMPEG"])
    cached = _ffmpeg_version.get(path)
    if cached is None or cached[0] < time.monotonic():
        output = subprocess.run([path, "-hide_banner", "-version"], capture_output=True, text=True, timeout=10)
        version = (output.stdout.splitlines() or ["unknown"])[0]
        cached = (time.monotonic() + _FFMPEG_VERSION_TTL, version)
        _ffmpeg_version[path] = cached
    # No path: the route is public, and where things live on disk is nobody else's business.
    return {"status": "healthy", "version": cached[1]}


def check_ytdlp() -> dict[str, Any]:
    """The yt-dlp library imports; its version tells when it is time to upgrade."""

    return {"status": "healthy", "version": yt_dlp_version}


def check_network_guard() -> dict[str, Any]:
    """Every request handler yt-dlp uses connects through the network guard; else nothing is fetched."""

    problem = guard_self_check()
    if problem is not None:
        return {"status": "unhealthy", "error": f"{problem}; downloads and look-ups are refused until fixed"}

    return {"status": "healthy", "handlers": list(GUARDED_HANDLERS)}


def check_js_runtime() -> dict[str, Any]:
    """The JavaScript runtime and yt-dlp-ejs that full YouTube support needs, as yt-dlp itself sees them."""

    report = dict(js_runtime_report(current_app.config["JS_RUNTIME"]))  # cached: runs the runtime once
    problems = report.pop("problems")
    return {
        "status": "degraded" if problems else "healthy",
        **report,
        **({"error": "; ".join(problems)} if problems else {}),
    }


def check_scheduler() -> dict[str, Any]:
    """The periodic sweeps run (or are turned off on purpose)."""

    if not current_app.config["SCHEDULER"]:
        return {"status": "healthy", "running": False, "note": "disabled by MEDIACACHE_SCHEDULER"}
    scheduler = current_app.extensions.get(SCHEDULER_KEY)
    if scheduler is None or not scheduler.running:
        return {"status": "degraded", "running": False, "note": "expiry sweeps are not running"}
    return {"status": "healthy", "running": True, "jobs": [job.id for job in scheduler.get_jobs()]}


def check_workers() -> dict[str, Any]:
    """The job pool: size, busy and waiting."""

    runner = get_runner(current_app)
    return {"status": "healthy", "size": runner.size, "busy": runner.busy_count(), "waiting": runner.waiting_count()}


def deployment_warning(config) -> str | None:
    """Why the file URLs handed to clients may not reach players, or None when the operator set where they live."""
    if config["PUBLIC_URL"]:
        return None
    return (
        "MEDIACACHE_PUBLIC_URL is not set, so file URLs (endpoints) are built from the Host each request "
        "was sent to: a game server asking at 127.0.0.1 hands players an address they cannot reach. "
        "Set MEDIACACHE_PUBLIC_URL to the address players' browsers use."
    )


def check_deployment() -> dict[str, Any]:
    """Where file URLs come from: the configured public URL, or each request's Host (degraded)."""
    warning = deployment_warning(current_app.config)
    if warning is None:
        return {"status": "healthy", "endpoints_from": "public_url"}
    return {"status": "degraded", "endpoints_from": "request_host", "note": warning}


def check_patches() -> dict[str, Any]:
    """The changes made to libraries, and whether each is in force (its library is a version it was tested with)."""
    patches = report()
    out = [patch for patch in patches if not patch["in_force"]]
    status = "healthy" if not out else "unhealthy" if any(patch.get("security") for patch in out) else "degraded"
    result: dict[str, Any] = {"status": status, "patches": patches}
    if out:
        result["note"] = "not in force (the library runs as released, or a security patch refuses its work): " + (
            ", ".join(patch["patch"] for patch in out)
        )
    return result


CHECKS = {
    "database": check_database,
    "disk": check_disk,
    "ffmpeg": check_ffmpeg,
    "yt_dlp": check_ytdlp,
    "network_guard": check_network_guard,
    "js_runtime": check_js_runtime,
    "scheduler": check_scheduler,
    "workers": check_workers,
    "deployment": check_deployment,
    "patches": check_patches,
    "extractors": check_extractors,
}


def health_report() -> dict[str, Any]:
    """Every check, and the worst status among them."""
    checks = {name: _check(name, function) for name, function in CHECKS.items()}
    statuses = {check["status"] for check in checks.values()}
    overall = "unhealthy" if "unhealthy" in statuses else "degraded" if "degraded" in statuses else "healthy"
    return {"status": overall, "checks": checks}
