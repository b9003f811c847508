"""ffmpeg: which binary, probe, demux, convert.

Its processes are started and stopped as processes.py says (their own group, cancel, deadline);
its failures are ``JobError`` (jobcontrol.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import imageio_ffmpeg

from ..core.profiles import SourceStreams
from .jobcontrol import Control, JobError, ProgressCallback
from .processes import supervised, tool_process_options

# Below this much free space a failed ffmpeg write is blamed on the full disk (health's LOW_DISK_BYTES is
# a different threshold: when the service starts saying it is degraded).
DISK_FULL_BYTES = 256 * 1024


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


@dataclass(frozen=True)
class Converted:
    """What an ffmpeg run left besides its file: its log (if kept) and how many seconds it wrote."""

    log: str
    seconds: float | None  # the last out_time ffmpeg reported: the encoder's own count, padding excluded


def convert(
    ffmpeg: str,
    source: Path,
    target: Path,
    output_args: list[str],
    tags: dict[str, str],
    duration: float | None,
    on_progress: ProgressCallback,
    control: Control,
    *,
    keep_log: bool = False,
) -> Converted:
    """Run ffmpeg once, reporting progress; killed at once on cancel or timeout.

    ``keep_log``: log at level info (a meter's summary is printed there) and return the log;
    otherwise only errors are logged. The output's length is what ffmpeg last reported writing.
    """
    metadata_args: list[str] = ["-map_metadata", "0"]
    for key, value in tags.items():
        if value:
            metadata_args += ["-metadata", f"{key}={value}"]
    command = [
        ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "level+info" if keep_log else "error", "-i", str(source),
        *output_args, *metadata_args, "-progress", "pipe:1", "-nostats", str(target),
    ]  # fmt: skip
    errors_path = target.with_suffix(".ffmpeg.log")
    written_us = None
    with open(errors_path, "wb") as errors:
        # A new session so a kill reaches ffmpeg and anything it spawned; it dies with the server.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, **tool_process_options())
        with supervised(process, control, "ffmpeg-watchdog"):
            for line in process.stdout:
                key, _, value = line.decode(errors="replace").strip().partition("=")
                if key == "out_time_us" and value.isdigit():
                    written_us = int(value)
                if key == "out_time_us" and value.isdigit() and duration:
                    percent = min(100.0, int(value) / 1e6 / duration * 100)
                    on_progress({"stage": "transcode", "percent": percent, "downloaded_bytes": None,
                                 "total_bytes": None, "speed": None, "eta": None})  # fmt: skip
            process.wait()
    control.check()
    log = errors_path.read_text(errors="replace")
    if process.returncode != 0:
        lines = log.strip().splitlines()
        # At level info the error is not the last line: the lines marked as errors are what went wrong.
        errors_only = [line for line in lines if "[error]" in line or "[fatal]" in line] if keep_log else lines
        detail = (errors_only or lines)[-1:] or ["unknown error"]
        # A full disk may leave ffmpeg unable to write even its error report: check the disk too.
        if "No space left" in detail[0] or shutil.disk_usage(target.parent).free < DISK_FULL_BYTES:
            raise JobError("STORAGE_FULL", "The disk filled up while converting this file.")
        raise JobError("TRANSCODE_FAILED", f"ffmpeg could not convert the source: {detail[0][:300]}")
    errors_path.unlink(missing_ok=True)
    return Converted(log if keep_log else "", written_us / 1e6 if written_us else None)
