"""Metadata look-ups without downloading (``/api/ytdlp``), cached briefly so a repeat costs nothing."""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import current_app

from . import downloader, urls
from .errors import APIError
from .extensions import db
from .metadata import describe_info
from .models import Media
from .storage import is_entry_id

CACHE_SECONDS = 300
CACHE_SIZE = 256

_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_cache_lock = threading.Lock()


def _extract_cached(url: str) -> dict[str, Any]:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(url)
        if hit and hit[0] > now:
            return hit[1]
    try:
        info = downloader.extract(url, current_app.config)
    except downloader.JobError as exc:
        raise APIError(exc.message, code=exc.code, status=exc.status) from None
    with _cache_lock:
        if len(_cache) >= CACHE_SIZE:
            for key, _ in sorted(_cache.items(), key=lambda item: item[1][0])[: CACHE_SIZE // 4]:
                _cache.pop(key, None)
        _cache[url] = (now + CACHE_SECONDS, info)
    return info


def url_for_reference(ref: str) -> str:
    """``/api/ytdlp/<id>``: a cache entry's id, or a YouTube video id."""
    if is_entry_id(ref):
        media = db.session.get(Media, ref)
        if media is not None:
            return media.source_url
    if urls.is_youtube_id(ref):
        return f"https://www.youtube.com/watch?v={ref}"
    raise APIError(f"{ref!r} is neither a media entry id nor a YouTube video id.", code="INVALID_URL", status=400)


def lookup(raw_url: Any, *, raw: bool, clean: bool) -> dict[str, Any] | list[dict[str, Any]]:
    """Normalized metadata for one item, a list for a playlist or feed, or yt-dlp's own JSON."""
    url = urls.check_url(raw_url)
    urls.refuse_forbidden_target(url, current_app.config)
    info = _extract_cached(urls.fetch_url(url))
    if raw:
        return info
    if info.get("_type") in ("playlist", "multi_video"):
        return [describe_info(entry, clean=clean) for entry in info.get("entries") or [] if entry]
    return describe_info(info, clean=clean)
