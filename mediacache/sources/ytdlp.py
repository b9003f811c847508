"""The one yt-dlp configuration: extract, download, map its errors to codes (failures.py)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import yt_dlp
from yt_dlp.extractor import gen_extractor_classes
from yt_dlp.networking.common import Request
from yt_dlp.networking.exceptions import HTTPError
from yt_dlp.utils import DownloadCancelled, DownloadError

from ..core.profiles import Variant
from ..patches import yt_dlp as yt_dlp_patches
from . import netguard
from .budget import Budget
from .cookies import private_copy, uploaded_cookie_file
from .failures import classify, site_of, ytdlp_outdated
from .ffmpeg import ffmpeg_dir_for_ytdlp, find_ffmpeg
from .jobcontrol import Control, JobCancelled, JobError, ProgressCallback
from .jsruntime import js_runtime
from .netguard import AddressPolicy

log = logging.getLogger(__name__)


class _Stop(DownloadCancelled):
    """Raised inside yt-dlp's progress hook to stop a download; carries the reason."""

    def __init__(self, reason: Exception) -> None:
        super().__init__(str(reason))
        self.reason = reason


class _QuietLogger:
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


# Protocols yt-dlp downloads itself, through the guarded connection factory. Anything else
# (rtmp, rtsp, mms, ...) would hand the URL to ffmpeg, which connects without our checks.
NATIVE_PROTOCOLS = {"http", "https", "m3u8_native", "http_dash_segments", "http_dash_segments_generator"}
# Source containers we accept into a temp dir; nothing else is ever written.
MEDIA_EXTENSIONS = {
    "mp3", "m4a", "mp4", "m4v", "webm", "weba", "ogg", "oga", "opus", "flac", "wav", "aac", "mka", "mkv",
    "mov", "3gp", "ts", "mpga", "aiff", "aif", "wma", "wmv", "avi", "flv", "caf", "alac",
}  # fmt: skip


def base_options(config: dict[str, Any]) -> dict[str, Any]:
    """yt-dlp options every call shares: quiet, no playlists, no local files, native downloads only."""
    options: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _QuietLogger(),
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


def check_formats(info: dict[str, Any]) -> None:
    """Refuse what would be fetched outside our guard, or written under an unexpected extension."""
    for chosen in info.get("requested_formats") or [info]:
        protocol = chosen.get("protocol") or "https"
        if not set(protocol.split("+")) <= NATIVE_PROTOCOLS:
            raise JobError("UNSUPPORTED_URL", f"The media is only offered over {protocol}, which is not fetched.")
        if (chosen.get("ext") or "").lower() not in MEDIA_EXTENSIONS:
            raise JobError("UNSUPPORTED_URL", f"The source is a {chosen.get('ext')!r} file, not audio or video.")


def _policy_error(policy: AddressPolicy) -> JobError | None:
    if policy.refused:
        return JobError("URL_NOT_ALLOWED", f"A connection was refused: {policy.refused[-1]}.")
    return None


if yt_dlp_patches.TLS_CONTEXTS.applies():
    yt_dlp_patches.share_tls_contexts()


class _BoundedYoutubeDL(yt_dlp.YoutubeDL):
    """A YoutubeDL whose pages and manifests (bodies read whole) stop at the budget's size limit.

    Every request of extractors and downloaders goes through ``urlopen``; the media download
    reads in blocks and is bounded by MAX_FILESIZE instead.
    """

    def urlopen(self, req):
        try:
            return netguard.cap_page_reads(super().urlopen(req))
        except HTTPError as exc:
            netguard.cap_page_reads(exc.response)  # an error page may be read too
            raise

    def build_request_director(self, handlers, preferences=None):
        """Only the request handlers the network guard covers, for only the schemes it covers."""
        covered = [handler for handler in handlers if handler.RH_KEY in netguard.GUARDED_HANDLERS]
        director = super().build_request_director(covered, preferences)
        for handler in director.handlers.values():
            handler._SUPPORTED_URL_SCHEMES = tuple(
                scheme for scheme in handler._SUPPORTED_URL_SCHEMES if scheme in netguard.GUARDED_SCHEMES
            )
        return director


@lru_cache(maxsize=1)
def guard_self_check() -> str | None:
    """None if every request handler yt-dlp will use connects through the guard; else what does not.

    Each handler is sent a request to a loopback address under a policy that refuses it: the
    guard must have been asked (and refused) before any socket was opened.
    """

    if not yt_dlp_patches.NETWORK_GUARD.applies():
        return yt_dlp_patches.NETWORK_GUARD.problem()  # fail closed: nothing is fetched unguarded
    netguard._install()
    unguarded = []
    with _BoundedYoutubeDL({"quiet": True, "logger": _QuietLogger()}, auto_init=False) as probe:
        handlers = probe._request_director.handlers
        if not handlers:
            return "yt-dlp has no request handler that the network guard covers"
        for key, handler in handlers.items():
            scheme = "http" if "http" in handler._SUPPORTED_URL_SCHEMES else "ws"
            policy = AddressPolicy()
            with netguard.enforced(policy), contextlib.suppress(Exception):
                handler.send(Request(f"{scheme}://127.0.0.1:9/"))
            if not policy.refused:
                unguarded.append(key)
    if unguarded:
        return f"yt-dlp's {', '.join(unguarded)} request handler connects around the network guard"
    return None


def new_ydl(options: dict[str, Any]) -> yt_dlp.YoutubeDL:
    """A YoutubeDL with its extractors added from the cached lineup."""
    if not yt_dlp_patches.EXTRACTOR_LINEUP.applies():
        return _BoundedYoutubeDL(options)  # yt-dlp as released: it builds its own lineup
    ydl = _BoundedYoutubeDL(options, auto_init=False)
    for extractor in yt_dlp_patches.extractor_lineup(tuple(options["allowed_extractors"])):
        # Classes are shared safely; an instance (yt-dlp's catch-all) gets a fresh one per downloader.
        ydl.add_info_extractor(extractor if isinstance(extractor, type) else type(extractor)())
    return ydl


def extract(url: str, config: dict[str, Any], *, max_entries: int | None = None) -> dict[str, Any]:
    """yt-dlp's info for a URL, without downloading; playlist entries are left unresolved.

    ``max_entries``: a playlist's entries past this many are not listed (a lazy listing stops
    fetching there); its ``playlist_count`` still says how many it has, when the source tells.
    """
    _refuse_if_unguarded()
    policy = AddressPolicy.from_config(config)
    budget = Budget(time.monotonic() + config["LOOKUP_TIMEOUT"], config["MAX_PAGE_BYTES"])
    options = base_options(config)
    if max_entries is not None:
        options["playlistend"] = max_entries
    try:
        with private_copy(options, None), netguard.enforced(policy), netguard.bounded(budget), new_ydl(options) as ydl:
            return ydl.sanitize_info(ydl.extract_info(url, download=False))
    except Exception as exc:
        error = _budget_error(budget, "UPSTREAM_TIMEOUT")
        if error is None and not isinstance(exc, DownloadError):
            raise
        raise error or _policy_error(policy) or map_ytdlp_error(exc, options["logger"].warnings, config) from None


def _refuse_if_unguarded() -> None:
    problem = guard_self_check()
    if problem is not None:
        raise JobError("NETWORK_GUARD_FAILED", f"This server refuses to fetch until fixed: {problem}.")


def _budget_error(budget: Budget, timeout_code: str) -> JobError | None:
    """The failure a spent budget explains, if any: its deadline first, then a page too large."""
    if budget.stopped == "deadline":
        return JobError(timeout_code, "The source took longer than this server's time limit to answer.")
    if budget.too_large is not None:
        return JobError("TOO_LARGE", f"The source sent a page larger than {budget.too_large} bytes.")
    return None


def _format_for(variant: Variant) -> str:
    if not variant.profile.is_video:
        return "bestaudio/best"
    height = variant.height
    return f"bv*[height<={height}]+ba/b[height<={height}]/wv*+ba/w"


def download(
    url: str,
    workdir: Path,
    variant: Variant,
    config: dict[str, Any],
    on_progress: ProgressCallback,
    control: Control,
    inspect: Callable[[dict[str, Any]], None],
) -> tuple[dict[str, Any], Path]:
    """One extraction, a check of its info by ``inspect``, then the download into ``workdir``."""

    def hook(status: dict[str, Any]) -> None:
        try:
            control.check()
        except (JobCancelled, JobError) as exc:
            raise _Stop(exc) from None
        downloaded = status.get("downloaded_bytes") or 0
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        # Counted bytes are the truth (a server may send no length, or lie); an announced
        # length over the limit stops the download before it starts.
        if control.max_filesize and max(downloaded, status.get("total_bytes") or 0) > control.max_filesize:
            raise _Stop(JobError("TOO_LARGE", f"The source is larger than {control.max_filesize} bytes."))
        on_progress(
            {
                "stage": "download",
                "percent": round(downloaded / total * 100, 1) if total else None,
                "downloaded_bytes": downloaded,
                "total_bytes": total,
                "speed": status.get("speed"),
                "eta": status.get("eta"),
            }
        )

    ffmpeg = find_ffmpeg(config.get("FFMPEG"))
    options = base_options(config) | {
        "format": _format_for(variant),
        "paths": {"home": str(workdir), "temp": str(workdir)},
        # The name is ours: nothing the source says becomes part of a path.
        "outtmpl": {"default": "source.%(ext)s"},
        "progress_hooks": [hook],
        "ffmpeg_location": ffmpeg_dir_for_ytdlp(ffmpeg, config["INSTANCE_DIR"]),
        "merge_output_format": "mkv",
        "overwrites": True,
        "updatetime": False,
    }
    _refuse_if_unguarded()
    policy = AddressPolicy.from_config(config)
    # The whole job's deadline bounds extraction too; cancel or deadline cuts a stalled read.
    budget = Budget(control.deadline, config["MAX_PAGE_BYTES"], cancel=control.cancel)
    try:
        with (
            private_copy(options, workdir),
            netguard.enforced(policy),
            netguard.bounded(budget),
            new_ydl(options) as ydl,
        ):
            info = ydl.extract_info(url, download=False)
            inspect(info)
            check_formats(info)
            control.check()
            result = ydl.process_ie_result(info, download=True)
            # A cut connection without a length can look like the end of the file.
            control.check()
    except _Stop as stop:
        raise stop.reason from None
    except (JobError, JobCancelled):
        raise
    except Exception as exc:
        if isinstance(exc, DownloadError) and isinstance(exc.exc_info[1] if exc.exc_info else None, _Stop):
            raise exc.exc_info[1].reason from None
        control.check()
        error = _budget_error(budget, "TIMEOUT")
        if error is None and not isinstance(exc, DownloadError):
            raise
        raise error or _policy_error(policy) or map_ytdlp_error(exc, options["logger"].warnings, config) from None
    return ydl.sanitize_info(result), _downloaded_file(result, workdir)


def _downloaded_file(result: dict[str, Any], workdir: Path) -> Path:
    paths = [item.get("filepath") for item in result.get("requested_downloads") or []]
    for candidate in [*paths, *sorted(str(p) for p in workdir.glob("source.*"))]:
        if candidate and Path(candidate).is_file() and Path(candidate).resolve().parent == workdir.resolve():
            return Path(candidate)
    raise JobError("MEDIA_UNAVAILABLE", "The source offered no downloadable media.")


def map_ytdlp_error(exc: Exception, warnings: list[str] = (), config: dict[str, Any] | None = None) -> JobError:
    """The API error for a yt-dlp failure, with its class (failures.py); the message keeps yt-dlp's reason."""
    outdated = ytdlp_outdated((config or {}).get("YTDLP_MAX_AGE_DAYS") or 0)
    verdict = classify(str(exc), warnings, outdated=outdated)
    return JobError(verdict.code, verdict.message, kind=verdict.kind, extractor=verdict.extractor)


def site_for(url: str, config: dict[str, Any]) -> str | None:
    """The rate-limited site (MEDIACACHE_EXTRACTOR_LIMITS) whose extractor would take ``url``, or None.

    Only the extractors of limited sites are asked: trying all ~1,800 in turn costs milliseconds per job.
    """
    limited = tuple(sorted(config.get("EXTRACTOR_LIMITS") or {}))
    for site, extractor in _limited_lineup(limited):
        if extractor.suitable(url):
            return site
    return None


@lru_cache(maxsize=8)
def _limited_lineup(sites: tuple[str, ...]) -> tuple:
    # yt-dlp's public list, in its order (plugins first): the first suitable one is the one it would use.
    return tuple(
        (site, extractor) for extractor in gen_extractor_classes() if (site := site_of(extractor.IE_NAME)) in sites
    )
