"""What this process knows about each site's extractor: last success, last infrastructure failure, canaries.

Jobs and canary checks report here; /api/health and /metrics read it. An infrastructure
failure (no JS runtime, challenge solving failed, PO-token provider down, yt-dlp too old)
keeps the site "down" until a later job or canary for it succeeds.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from flask import Flask, current_app

from ..core.gauges import Gauge, LabelledGauge
from ..core.timeutil import isoformat, utcnow
from .failures import site_of, ytdlp_age_days, ytdlp_outdated
from .jobcontrol import JobError
from .ytdlp import extract, site_for

log = logging.getLogger(__name__)
EXTENSION_KEY = "mediacache.source_health"


class SourceHealth:
    """Per site: up or down, why, and when it last worked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sites: dict[str, dict[str, Any]] = {}

    def succeeded(self, site: str, *, canary: str | None = None) -> None:
        """A job or canary of ``site`` worked: the site is up."""
        with self._lock:
            state = self._sites.setdefault(site, {})
            state.update(up=True, last_success=utcnow(), error=None)
            if canary:
                state.setdefault("canaries", {})[canary] = {"ok": True, "checked_at": utcnow()}

    def failed(self, site: str, code: str, message: str, *, infrastructure: bool, canary: str | None = None) -> None:
        """A job or canary of ``site`` failed; only a failure of this server's set-up marks the site down."""
        with self._lock:
            state = self._sites.setdefault(site, {"up": True, "last_success": None, "error": None})
            if infrastructure or canary:
                state.update(up=False, error={"code": code, "message": message[:300], "at": utcnow()})
            if canary:
                state.setdefault("canaries", {})[canary] = {"ok": False, "checked_at": utcnow(), "code": code}

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every known site, as plain JSON values."""
        with self._lock:
            return {site: _jsonable(state) for site, state in sorted(self._sites.items())}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def get_source_health(app: Flask | None = None) -> SourceHealth:
    """The app's record (created on first use)."""
    extensions = (app or current_app).extensions
    return extensions.setdefault(EXTENSION_KEY, SourceHealth())


def source_gauges(app: Flask) -> list:
    """Per extractor (site): 1 while it works, 0 after an infrastructure failure or a failed canary; yt-dlp's age."""

    def extractor_up() -> dict[tuple[str, ...], float]:
        return {
            (site,): 1.0 if state.get("up", True) else 0.0 for site, state in get_source_health(app).snapshot().items()
        }

    return [
        LabelledGauge("mediacache_extractor_up", "Whether the site's extractor works (jobs, canaries).",
                      ("extractor",), extractor_up),
        Gauge("mediacache_ytdlp_age_days", "Days since the installed yt-dlp was released.", ytdlp_age_days),
    ]  # fmt: skip


def check_extractors() -> dict[str, Any]:
    """Health: degraded while a site is down for an infrastructure reason, a canary fails, or yt-dlp is too old."""
    config = current_app.config
    sites = get_source_health().snapshot()
    problems = [f"{site}: {state['error']['code']}" for site, state in sites.items() if not state.get("up", True)]
    age = ytdlp_age_days()
    if ytdlp_outdated(config["YTDLP_MAX_AGE_DAYS"]):
        problems.append(f"yt-dlp is {age} days old (limit {config['YTDLP_MAX_AGE_DAYS']}); run flask update-ytdlp")
    report: dict[str, Any] = {"status": "degraded" if problems else "healthy", "ytdlp_age_days": age, "sites": sites}
    if problems:
        report["error"] = "; ".join(problems)
    return report


def check_canaries() -> dict[str, bool]:
    """Extract the metadata of each MEDIACACHE_CANARY_URLS (nothing is downloaded) and record each site's result."""
    config = current_app.config
    health = get_source_health()
    results: dict[str, bool] = {}
    for url in config["CANARY_URLS"]:
        site = site_for(url, config) or "generic"
        try:
            info = extract(url, config)
        except JobError as exc:
            health.failed(exc.extractor or site, exc.code, exc.message, infrastructure=True, canary=url)
            log.warning("canary %s failed: %s %s", url, exc.code, exc.message)
            results[url] = False
        except Exception as exc:  # a canary reports, it never takes the scheduler down
            health.failed(site, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}", infrastructure=True, canary=url)
            log.exception("canary %s failed unexpectedly", url)
            results[url] = False
        else:
            health.succeeded(site_of(info.get("extractor")) or site, canary=url)
            results[url] = True
    return results
