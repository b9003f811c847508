"""The cookies yt-dlp sends (a Netscape cookies.txt an admin uploads), kept 0600 in the instance folder.

An upload replaces the file at once; the next job reads it. Only domains and expiry dates
ever leave this module: a cookie's value is a login.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from yt_dlp.cookies import YoutubeDLCookieJar

log = logging.getLogger(__name__)
COOKIE_FILE_NAME = "cookies.txt"
MAX_COOKIE_BYTES = 1024 * 1024


class InvalidCookies(ValueError):
    """The text is not a Netscape cookies.txt yt-dlp can read."""


def cookie_path(config: dict[str, Any]) -> Path:
    """Where an uploaded cookies.txt lives."""
    return Path(config["INSTANCE_DIR"]) / COOKIE_FILE_NAME


def uploaded_cookie_file(config: dict[str, Any]) -> str | None:
    """The uploaded cookies.txt, if there is one (it wins over MEDIACACHE_YTDLP_COOKIES)."""
    if not config.get("INSTANCE_DIR"):
        return None
    path = cookie_path(config)
    return str(path) if path.is_file() else None


def _load(path: Path):
    """yt-dlp's own cookie jar over ``path``: what it accepts here, jobs can use."""
    jar = YoutubeDLCookieJar(str(path))
    try:
        jar.load(ignore_discard=True, ignore_expires=True)
    except Exception as exc:  # http.cookiejar.LoadError, ValueError, UnicodeDecodeError, ...
        raise InvalidCookies(f"not a Netscape cookies.txt: {str(exc)[:200]}") from None
    return jar


def summarize(jar) -> dict[str, Any]:
    """Domains with their cookie count and latest expiry; never names or values."""
    domains: dict[str, dict[str, Any]] = {}
    for cookie in jar:
        entry = domains.setdefault(cookie.domain.lstrip("."), {"cookies": 0, "expires_at": None, "session": 0})
        entry["cookies"] += 1
        if cookie.expires:
            expires = datetime.fromtimestamp(cookie.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            entry["expires_at"] = max(entry["expires_at"] or expires, expires)
        else:
            entry["session"] += 1
    return {"domains": [{"domain": name, **entry} for name, entry in sorted(domains.items())],
            "cookies": sum(entry["cookies"] for entry in domains.values())}  # fmt: skip


def store_cookies(config: dict[str, Any], text: str) -> dict[str, Any]:
    """Validate ``text`` with yt-dlp's parser and put it in place atomically, mode 0600; returns its summary."""
    data = text.encode("utf-8")
    if not text.strip():
        raise InvalidCookies("the cookies file is empty")
    if len(data) > MAX_COOKIE_BYTES:
        raise InvalidCookies(f"the cookies file is larger than {MAX_COOKIE_BYTES} bytes")
    target = cookie_path(config)
    # Written next to its final place (same filesystem) and renamed: a job never reads half a file.
    fd, staged = tempfile.mkstemp(dir=target.parent, prefix=".cookies-", suffix=".txt")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        jar = _load(Path(staged))
        if not len(jar):
            raise InvalidCookies("the file holds no cookies (expected tab-separated Netscape lines)")
        os.chmod(staged, 0o600)
        os.replace(staged, target)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise
    return summarize(jar)


def cookie_summary(config: dict[str, Any]) -> dict[str, Any]:
    """What the uploaded cookies.txt holds, by domain; ``present`` False when there is none."""
    path = uploaded_cookie_file(config)
    if path is None:
        return {"present": False, "domains": [], "cookies": 0}
    return {"present": True, **summarize(_load(Path(path)))}


def delete_cookies(config: dict[str, Any]) -> bool:
    """Remove the uploaded cookies.txt; False if there was none."""
    path = cookie_path(config)
    existed = path.is_file()
    path.unlink(missing_ok=True)
    return existed


@contextmanager
def private_copy(options: dict[str, Any], folder: str | Path | None) -> Iterator[None]:
    """Give one yt-dlp run its own copy of the cookie file, in a fresh 0700 folder under ``folder``.

    yt-dlp writes its cookie jar back to the file when it closes, in place: two jobs at once
    would write over each other (and a third read half a file), and the admin's upload would
    change under them. Each run reads a copy, which goes away with it.
    """
    source = options.get("cookiefile")
    if not source:
        yield
        return
    with tempfile.TemporaryDirectory(dir=folder, prefix=".cookies-") as scratch:
        copy = Path(scratch) / COOKIE_FILE_NAME
        try:
            shutil.copyfile(source, copy)
            os.chmod(copy, 0o600)
        except OSError as exc:
            # A missing cookie file must not fail a job that may not need it: yt-dlp goes on without.
            log.warning("the cookie file could not be read (%s); this job runs without cookies", exc.strerror)
            options.pop("cookiefile")
        else:
            options["cookiefile"] = str(copy)
        yield
