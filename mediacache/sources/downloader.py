"""The only code that runs yt-dlp and ffmpeg: extract, download, probe, transcode, map errors."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import yt_dlp
from yt_dlp.dependencies import yt_dlp_ejs
from yt_dlp.extractor import gen_extractor_classes
from yt_dlp.globals import supported_js_runtimes
from yt_dlp.networking.common import Request
from yt_dlp.networking.exceptions import HTTPError
from yt_dlp.utils import DownloadCancelled, DownloadError

from ..core.errors import DomainError
from ..core.profiles import SourceStreams, Variant
from ..patches import yt_dlp as yt_dlp_patches
from . import netguard
from .cookies import private_copy, uploaded_cookie_file
from .failures import classify, site_of, ytdlp_outdated
from .netguard import AddressPolicy, Budget

log = logging.getLogger(__name__)

ProgressCallback = Callable[[dict[str, Any]], None]
# Below this much free space a failed ffmpeg write is blamed on the full disk (health's LOW_DISK_BYTES is
# a different threshold: when the service starts saying it is degraded).
DISK_FULL_BYTES = 256 * 1024


class JobError(DomainError):
    """A job failed for a reason the client should see as ``error.code``/``error.message``."""

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        kind: str = "permanent",
        extractor: str | None = None,
    ) -> None:
        super().__init__(code, message, details)
        # permanent, transient (retried with backoff) or infrastructure (health turns degraded): see failures.py
        self.kind, self.extractor = kind, extractor


class JobCancelled(Exception):
    """The job was cancelled by a client or an admin."""


class _Stop(DownloadCancelled):
    """Raised inside yt-dlp's progress hook to stop a download; carries the reason."""

    def __init__(self, reason: Exception) -> None:
        super().__init__(str(reason))
        self.reason = reason


@dataclass
class Control:
    """What a running job can be stopped by: a cancel event and a deadline."""

    cancel: threading.Event
    deadline: float  # time.monotonic()
    max_filesize: int = 0

    def check(self) -> None:
        """Raise if the job must stop now."""
        if self.cancel.is_set():
            raise JobCancelled()
        if time.monotonic() > self.deadline:
            raise JobError("TIMEOUT", "The job took longer than the configured time limit.")


# --- ffmpeg ---------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return prctl


_prctl = _load_prctl()  # looked up here: the child, between fork and exec, only calls it


def _die_with_server(server_pid: int) -> None:
    # In the child before exec (the setting survives exec): the kernel sends SIGKILL when the
    # thread that started it ends, i.e. when the server dies, even by SIGKILL.
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != server_pid:  # the server died before the setting took hold
        os._exit(1)


def tool_process_options() -> dict[str, Any]:
    """Popen options for ffmpeg: its own session (a kill reaches all it starts), killed when the server dies.

    The session keeps it out of the server's signals, so without the death signal an ffmpeg
    outlived a killed server and ran its transcode to the end.
    """
    options: dict[str, Any] = {"start_new_session": True}
    if _prctl is not None:
        options["preexec_fn"] = functools.partial(_die_with_server, os.getpid())
    return options


@lru_cache(maxsize=4)
def find_ffmpeg(configured: str | None) -> str:
    """The configured ffmpeg, else the system's, else the binary shipped by imageio-ffmpeg."""
    if configured:
        if not (shutil.which(configured) or os.access(configured, os.X_OK)):
            raise JobError("FFMPEG_MISSING", f"MEDIACACHE_FFMPEG={configured} is not an executable.")
        return shutil.which(configured) or configured
    system = shutil.which("ffmpeg")
    if system:
        return system

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_dir_for_ytdlp(ffmpeg: str, instance_dir: str) -> str:
    """A folder with the binary named ``ffmpeg``: yt-dlp identifies its tools by file name."""
    if Path(ffmpeg).name == "ffmpeg":
        return str(Path(ffmpeg).parent)
    folder = Path(instance_dir) / "bin"
    folder.mkdir(exist_ok=True)
    link = folder / "ffmpeg"
    if not link.exists() or link.resolve() != Path(ffmpeg).resolve():
        # Two jobs may get here at once: each makes its own link and renames it into place,
        # so neither trips over the other's (os.replace is atomic).
        staged = folder / f".ffmpeg-{os.getpid()}-{threading.get_ident()}"
        staged.unlink(missing_ok=True)
        staged.symlink_to(ffmpeg)
        os.replace(staged, link)
    return str(folder)


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_OVERALL_BITRATE = re.compile(r"bitrate: (\d+) kb/s")
_STREAM = re.compile(r"Stream #\d+:\d+\S*: (Audio|Video): (\w+)(.*)")
_KBPS = re.compile(r"(\d+) kb/s")
_SIZE = re.compile(r", (\d{2,5})x(\d{2,5})")
_SAMPLE_RATE = re.compile(r"(\d+) Hz")
_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "7.1": 8}
_GLOBAL_TAG = re.compile(r"^    (\w+)\s*: (.*)$")


def _global_tags(report: str) -> dict[str, str]:
    """The input's own tags: the "Metadata:" block before its first stream."""
    tags: dict[str, str] = {}
    in_block = False
    for line in report.splitlines():
        if line.startswith("  Metadata:"):
            in_block = True
        elif in_block and (match := _GLOBAL_TAG.match(line)):
            tags.setdefault(match.group(1).lower(), match.group(2).strip())
        elif in_block:
            break
    return tags


def probe(ffmpeg: str, path: Path) -> SourceStreams:
    """Codecs, picture height, bitrate and duration of a media file, read by ``ffmpeg -i``."""
    result = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True, timeout=60, encoding="utf-8", errors="replace",  # ffmpeg prints tags' bytes as they are
        **tool_process_options(),
    )  # fmt: skip
    report = result.stderr
    audio_codec = video_codec = None
    height = audio_bitrate = sample_rate = channels = None
    # A format ffmpeg only guessed is not media: /bin/ls reads as MPEG audio at the lowest score.
    found = [] if _GUESSED_FORMAT in report else _STREAM.findall(report)
    for kind, codec, rest in found:
        if kind == "Audio" and audio_codec is None:
            audio_codec = codec
            rate = _KBPS.search(rest)
            audio_bitrate = int(rate.group(1)) * 1000 if rate else None
            hertz = _SAMPLE_RATE.search(rest)
            sample_rate = int(hertz.group(1)) if hertz else None
            channels = next((count for name, count in _CHANNELS.items() if f" {name}," in rest + ","), None)
        elif kind == "Video" and video_codec is None and "attached pic" not in rest:
            video_codec = codec
            size = _SIZE.search(rest)
            height = int(size.group(2)) if size else None
    duration_match = _DURATION.search(report)
    duration = None
    if duration_match:
        hours, minutes, seconds = duration_match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    overall = _OVERALL_BITRATE.search(report)
    bitrate = audio_bitrate or (int(overall.group(1)) * 1000 if overall and video_codec is None else None)
    if bitrate is None and video_codec is None and duration:
        # Some containers report no rate ("bitrate: N/A"); without one the remux check would always fail.
        bitrate = int(path.stat().st_size * 8 / duration)
    return SourceStreams(
        audio_codec, video_codec, height, bitrate, duration, sample_rate, channels, _global_tags(report)
    )


# ffmpeg's word for a file it only guessed the format of (e.g. a program's bytes read as MPEG audio).
_GUESSED_FORMAT = "misdetection possible"
_OUT_TIME = re.compile(r"^out_time_us=(\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class Demuxed:
    """What reading every packet of a file's first audio stream found; nothing is decoded."""

    codec: str | None  # None: ffmpeg found no audio stream it recognises
    duration: float  # seconds of packets read (up to the bound)


def demux_audio(ffmpeg: str, path: Path, bound: float | None, control: Control) -> Demuxed:
    """The codec and real length of the first audio stream: every packet copied to nowhere, ``bound`` s at most.

    Headers (an MP3's Xing frame count, FLAC's sample count, an Ogg file's last granule)
    say what the uploader wants; packets are what a player will play. A copy to the null
    muxer reads them all without decoding, a few hundredths of a second for a song.
    """
    command = [
        ffmpeg, "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0", "-c", "copy",
        *(["-t", f"{bound:.3f}"] if bound else []), "-f", "null", "-progress", "pipe:1", "-nostats", "-",
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, capture_output=True, encoding="utf-8", errors="replace",
            timeout=max(1.0, control.deadline - time.monotonic()),
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise JobError("TIMEOUT", "The job took longer than the configured time limit.") from None
    codec = next((codec for kind, codec, _rest in _STREAM.findall(result.stderr) if kind == "Audio"), None)
    if result.returncode != 0 or _GUESSED_FORMAT in result.stderr or codec is None:
        return Demuxed(None, 0.0)
    times = _OUT_TIME.findall(result.stdout)
    return Demuxed(codec, int(times[-1]) / 1e6 if times else 0.0)


def convert(
    ffmpeg: str,
    source: Path,
    target: Path,
    output_args: list[str],
    tags: dict[str, str],
    duration: float | None,
    on_progress: ProgressCallback,
    control: Control,
) -> None:
    """Run ffmpeg once, reporting progress; killed at once on cancel or timeout."""
    metadata_args: list[str] = ["-map_metadata", "0"]
    for key, value in tags.items():
        if value:
            metadata_args += ["-metadata", f"{key}={value}"]
    command = [
        ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(source),
        *output_args, *metadata_args, "-progress", "pipe:1", "-nostats", str(target),
    ]  # fmt: skip
    errors_path = target.with_suffix(".ffmpeg.log")
    with open(errors_path, "wb") as errors:
        # A new session so a kill reaches ffmpeg and anything it spawned; it dies with the server.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, **tool_process_options())
        watchdog = threading.Thread(
            target=_kill_when_stopped, args=(process, control), daemon=True, name="ffmpeg-watchdog"
        )
        watchdog.start()
        try:
            for line in process.stdout:
                key, _, value = line.decode(errors="replace").strip().partition("=")
                if key == "out_time_us" and value.isdigit() and duration:
                    percent = min(100.0, int(value) / 1e6 / duration * 100)
                    on_progress({"stage": "transcode", "percent": percent, "downloaded_bytes": None,
                                 "total_bytes": None, "speed": None, "eta": None})  # fmt: skip
            process.wait()
        finally:
            if process.poll() is None:
                _kill_group(process)
            process.wait()
    control.check()
    if process.returncode != 0:
        detail = errors_path.read_text(errors="replace").strip().splitlines()[-1:] or ["unknown error"]
        # A full disk may leave ffmpeg unable to write even its error report: check the disk too.
        if "No space left" in detail[0] or shutil.disk_usage(target.parent).free < DISK_FULL_BYTES:
            raise JobError("STORAGE_FULL", "The disk filled up while converting this file.")
        raise JobError("TRANSCODE_FAILED", f"ffmpeg could not convert the source: {detail[0][:300]}")
    errors_path.unlink(missing_ok=True)


def _kill_when_stopped(process: subprocess.Popen, control: Control) -> None:
    while process.poll() is None:
        if control.cancel.is_set() or time.monotonic() > control.deadline:
            _kill_group(process)
            return
        time.sleep(0.1)


def _kill_group(process: subprocess.Popen) -> None:
    """Kill ffmpeg and anything it started (it leads its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


# --- yt-dlp ---------------------------------------------------------------------------


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


_RUNTIME_KINDS = {"deno": "deno", "node": "node", "nodejs": "node", "bun": "bun", "qjs": "quickjs"}


@lru_cache(maxsize=4)
def js_runtime(configured: str | None) -> tuple[str, str] | None:
    """(yt-dlp's runtime name, path): MEDIACACHE_JS_RUNTIME, else the Deno the ``deno`` package installed."""
    if configured:
        path = shutil.which(configured) or configured
        name = Path(path).name.lower().removesuffix(".exe")
        return _RUNTIME_KINDS.get(name, "deno"), path
    try:
        import deno  # noqa: PLC0415 — optional: without the deno package yt-dlp runs without it
    except ImportError:
        return None
    try:
        return "deno", deno.find_deno_bin()
    except FileNotFoundError:
        return None


@lru_cache(maxsize=4)
def js_runtime_report(configured: str | None) -> dict[str, Any]:
    """What yt-dlp itself detects of the runtime we give it (name, version), and yt-dlp-ejs's version."""

    report: dict[str, Any] = {"runtime": None, "runtime_version": None, "ejs_version": None, "problems": []}
    if yt_dlp_ejs is None:
        report["problems"].append("yt-dlp-ejs is not installed")
    else:
        report["ejs_version"] = getattr(yt_dlp_ejs, "version", "unknown")
    runtime = js_runtime(configured)
    if runtime is None:
        report["problems"].append("no JavaScript runtime (install the deno package or set MEDIACACHE_JS_RUNTIME)")
        return report
    info = supported_js_runtimes.value[runtime[0]](path=runtime[1]).info
    report["runtime"] = runtime[0]
    if info is None:
        report["problems"].append(f"the {runtime[0]} runtime does not run")
    else:
        report["runtime_version"] = info.version
        if info.supported is False:
            report["problems"].append(f"{runtime[0]} {info.version} is too old for yt-dlp")
    return report


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


def extract(url: str, config: dict[str, Any]) -> dict[str, Any]:
    """yt-dlp's info for a URL, without downloading; playlist entries are left unresolved."""
    _refuse_if_unguarded()
    policy = AddressPolicy.from_config(config)
    budget = Budget(time.monotonic() + config["LOOKUP_TIMEOUT"], config["MAX_PAGE_BYTES"])
    options = base_options(config)
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
