"""yt-dlp's calls: ``extract`` (a look-up), ``download`` (a job's source), ``site_for`` (its rate-limited site).

Each runs in the one configuration: the options of ytdlp_options.py, in the YoutubeDL of
ytdlp_downloader.py, under the network guard and a budget; a failure is reported as
ytdlp_errors.py says.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from yt_dlp.extractor import gen_extractor_classes
from yt_dlp.utils import DownloadCancelled, DownloadError

from ..core.profiles import Variant
from . import netguard
from .budget import Budget
from .cookies import private_copy
from .failures import site_of
from .ffmpeg import ffmpeg_dir_for_ytdlp, find_ffmpeg
from .jobcontrol import Control, JobCancelled, JobError, ProgressCallback
from .netguard import AddressPolicy
from .ytdlp_downloader import new_ydl, refuse_if_unguarded
from .ytdlp_errors import call_error
from .ytdlp_options import base_options, check_formats, format_for


class _Stop(DownloadCancelled):
    """Raised inside yt-dlp's progress hook to stop a download; carries the reason."""

    def __init__(self, reason: Exception) -> None:
        super().__init__(str(reason))
        self.reason = reason


def extract(url: str, config: dict[str, Any], *, max_entries: int | None = None) -> dict[str, Any]:
    """yt-dlp's info for a URL, without downloading; playlist entries are left unresolved.

    ``max_entries``: a playlist's entries past this many are not listed (a lazy listing stops
    fetching there); its ``playlist_count`` still says how many it has, when the source tells.
    """
    refuse_if_unguarded()
    policy = AddressPolicy.from_config(config)
    budget = Budget(time.monotonic() + config["LOOKUP_TIMEOUT"], config["MAX_PAGE_BYTES"])
    options = base_options(config)
    if max_entries is not None:
        options["playlistend"] = max_entries
    try:
        with private_copy(options, None), netguard.enforced(policy), netguard.bounded(budget), new_ydl(options) as ydl:
            return ydl.sanitize_info(ydl.extract_info(url, download=False))
    except Exception as exc:
        error = call_error(exc, budget, policy, options["logger"].warnings, config, "UPSTREAM_TIMEOUT")
        if error is None:
            raise
        raise error from None


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
        "format": format_for(variant),
        "paths": {"home": str(workdir), "temp": str(workdir)},
        # The name is ours: nothing the source says becomes part of a path.
        "outtmpl": {"default": "source.%(ext)s"},
        "progress_hooks": [hook],
        "ffmpeg_location": ffmpeg_dir_for_ytdlp(ffmpeg, config["INSTANCE_DIR"]),
        "merge_output_format": "mkv",
        "overwrites": True,
        "updatetime": False,
    }
    refuse_if_unguarded()
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
        error = call_error(exc, budget, policy, options["logger"].warnings, config, "TIMEOUT")
        if error is None:
            raise
        raise error from None
    return ydl.sanitize_info(result), _downloaded_file(result, workdir)


def _downloaded_file(result: dict[str, Any], workdir: Path) -> Path:
    paths = [item.get("filepath") for item in result.get("requested_downloads") or []]
    for candidate in [*paths, *sorted(str(p) for p in workdir.glob("source.*"))]:
        if candidate and Path(candidate).is_file() and Path(candidate).resolve().parent == workdir.resolve():
            return Path(candidate)
    raise JobError("MEDIA_UNAVAILABLE", "The source offered no downloadable media.")


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
