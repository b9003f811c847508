"""The options every yt-dlp call is given, the format a variant asks for, and the check of what yt-dlp chose.

yt-dlp is told to download only natively (through the network guard) and to write only under our
name; ``check_formats`` refuses what it would fetch or write otherwise, before anything is fetched.
"""

from __future__ import annotations

import logging
from typing import Any

from ..core.profiles import Variant
from .cookies import uploaded_cookie_file
from .jobcontrol import JobError
from .jsruntime import js_runtime

log = logging.getLogger(__name__)

# Protocols yt-dlp downloads itself, through the guarded connection factory. Anything else
# (rtmp, rtsp, mms, ...) would hand the URL to ffmpeg, which connects without our checks.
NATIVE_PROTOCOLS = {"http", "https", "m3u8_native", "http_dash_segments", "http_dash_segments_generator"}
# Source containers we accept into a temp dir; nothing else is ever written.
MEDIA_EXTENSIONS = {
    "mp3", "m4a", "mp4", "m4v", "webm", "weba", "ogg", "oga", "opus", "flac", "wav", "aac", "mka", "mkv",
    "mov", "3gp", "ts", "mpga", "aiff", "aif", "wma", "wmv", "avi", "flv", "caf", "alac",
}  # fmt: skip


class QuietLogger:
    """yt-dlp's messages go to our log at debug level; errors surface as exceptions.

    Warnings are kept too: yt-dlp warns about a missing JS runtime or a failed challenge and
    then fails with something vaguer, and the warning names the real cause (failures.py).
    """

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def debug(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    info = debug

    def warning(self, message: str) -> None:
        log.debug("yt-dlp warning: %s", message)
        if len(self.warnings) < 50:
            self.warnings.append(message)

    def error(self, message: str) -> None:
        log.debug("yt-dlp error: %s", message)


def base_options(config: dict[str, Any]) -> dict[str, Any]:
    """yt-dlp options every call shares: quiet, no playlists, no local files, native downloads only."""
    options: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": QuietLogger(),
        "noplaylist": True,
        "extract_flat": "in_playlist",
        "enable_file_urls": False,
        # A stalled socket must not hold a worker long past the job's time limit.
        "socket_timeout": max(1, min(20, config.get("JOB_TIMEOUT", 60) // 3)),
        "retries": 2,
        "cachedir": False,
        "color": {"stderr": "never", "stdout": "never"},
        "hls_prefer_native": True,
        "external_downloader": {"default": "native"},
        "allowed_extractors": _extractors(config),
    }
    cookies = uploaded_cookie_file(config) or config.get("YTDLP_COOKIES")
    if cookies:
        options["cookiefile"] = cookies
    extractor_args = dict(config.get("YTDLP_EXTRACTOR_ARGS") or {})
    if config.get("YTDLP_POT_PROVIDER_URL"):
        # The bgutil plugin's HTTP provider reads its server's address from these extractor args.
        extractor_args.setdefault("youtubepot-bgutilhttp", {"base_url": [config["YTDLP_POT_PROVIDER_URL"]]})
    if extractor_args:
        options["extractor_args"] = extractor_args
    if config.get("YTDLP_PROXY"):
        options["proxy"] = config["YTDLP_PROXY"]
    runtime = js_runtime(config.get("JS_RUNTIME"))
    # Exactly this runtime, never one found on PATH; none at all when it is missing.
    options["js_runtimes"] = {runtime[0]: {"path": runtime[1]}} if runtime else {}
    return options


def _extractors(config: dict[str, Any]) -> list[str]:
    """yt-dlp's allowed_extractors: the allow list (or all enabled ones) less the blocked ones."""
    allowed = [name.lower() for name in config.get("ALLOWED_EXTRACTORS") or []] or ["default"]
    return allowed + [f"-{name.lower()}" for name in config.get("BLOCKED_EXTRACTORS") or []]


def format_for(variant: Variant) -> str:
    """yt-dlp's format selector for a variant: the best audio, or the best video up to its height."""
    if not variant.profile.is_video:
        return "bestaudio/best"
    height = variant.height
    return f"bv*[height<={height}]+ba/b[height<={height}]/wv*+ba/w"


def check_formats(info: dict[str, Any]) -> None:
    """Refuse what would be fetched outside our guard, or written under an unexpected extension."""
    for chosen in info.get("requested_formats") or [info]:
        protocol = chosen.get("protocol") or "https"
        if not set(protocol.split("+")) <= NATIVE_PROTOCOLS:
            raise JobError("UNSUPPORTED_URL", f"The media is only offered over {protocol}, which is not fetched.")
        if (chosen.get("ext") or "").lower() not in MEDIA_EXTENSIONS:
            raise JobError("UNSUPPORTED_URL", f"The source is a {chosen.get('ext')!r} file, not audio or video.")
