"""Metadata look-ups without downloading (``/api/ytdlp``), cached briefly so a repeat costs nothing."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any

from flask import current_app

from ..core import urls
from ..core.errors import DomainError, shown
from ..db.extensions import db
from ..db.models import Media
from ..sources import failures, netguard, ytdlp
from ..sources.jobcontrol import JobError
from ..sources.metadata import describe_info
from .storage import is_entry_id

CACHE_SECONDS = 300
CACHE_SIZE = 256


class LookupCache:
    """Recent look-ups, bounded by count, by age and by the size of what they hold.

    A 20,000-item feed is tens of megabytes of info; slots alone would let 256 of them pile
    up. The size of an answer is taken as the length of its JSON, which tracks what it costs.
    """

    def __init__(self, max_entries: int = CACHE_SIZE, ttl: float = CACHE_SECONDS, clock=time.monotonic) -> None:
        self.max_entries, self.ttl, self.clock = max_entries, ttl, clock
        self._entries: OrderedDict[str, tuple[float, int, dict[str, Any]]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def total_bytes(self) -> int:
        """The summed size of what is held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict[str, Any] | None:
        """The fresh answer for ``key``, or None (an expired one is dropped)."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if hit[0] <= self.clock():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return hit[2]

    def put(self, key: str, info: dict[str, Any], max_bytes: int) -> None:
        """Keep ``info``, dropping expired then least recently used answers to stay within bounds."""
        size = len(json.dumps(info, default=str))
        with self._lock:
            if key in self._entries:
                self._drop(key)
            now = self.clock()
            for expired in [name for name, (expires, _, _) in self._entries.items() if expires <= now]:
                self._drop(expired)
            if size > max_bytes:
                return  # larger than the whole budget: answered, not kept
            while self._entries and (self._bytes + size > max_bytes or len(self._entries) >= self.max_entries):
                self._drop(next(iter(self._entries)))
            self._entries[key] = (now + self.ttl, size, info)
            self._bytes += size

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _drop(self, key: str) -> None:
        self._bytes -= self._entries.pop(key)[1]


_cache = LookupCache()


def extract(url: str, *, max_entries: int | None = None) -> dict[str, Any]:
    """yt-dlp's info for a URL under the look-up's guard and time limit, uncached; failures as DomainError."""
    try:
        return ytdlp.extract(url, current_app.config, max_entries=max_entries)
    except JobError as exc:
        raise DomainError(exc.code, exc.message) from None
    except failures.UNUSABLE_REQUEST as exc:
        verdict = failures.request_failure(exc)
        raise DomainError(verdict.code, verdict.message) from None


def _extract_cached(url: str) -> dict[str, Any]:
    hit = _cache.get(url)
    if hit is not None:
        return hit
    info = extract(url)
    _cache.put(url, info, current_app.config["LOOKUP_CACHE_BYTES"])
    return info


def url_for_reference(ref: str) -> str:
    """``/api/ytdlp/<id>``: a cache entry's id, or a YouTube video id."""
    if is_entry_id(ref):
        media = db.session.get(Media, ref)
        if media is None:
            raise DomainError("NOT_FOUND", f"No media entry {shown(ref)}.")
        return media.source_url
    if urls.is_youtube_id(ref):
        return f"https://www.youtube.com/watch?v={ref}"
    raise DomainError("INVALID_URL", f"{shown(ref)} is neither a media entry id nor a YouTube video id.")


def lookup(raw_url: Any, *, raw: bool, clean: bool) -> dict[str, Any] | list[dict[str, Any]]:
    """Normalized metadata for one item, a list for a playlist or feed, or yt-dlp's own JSON."""
    url = urls.check_url(raw_url)
    netguard.refuse_forbidden_target(url, current_app.config)
    info = _extract_cached(urls.fetch_url(url))
    if raw:
        return info
    if info.get("_type") in ("playlist", "multi_video"):
        return [describe_info(entry, clean=clean) for entry in info.get("entries") or [] if entry]
    return describe_info(info, clean=clean)
