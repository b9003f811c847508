"""A job's file made without an encode (encode.py makes the others), and the length limit every file is held to.

A source already in the profile's codec is retagged in place or rewrapped in-process (Opus
WebM → Ogg), else ffmpeg remuxes it. A header may lie about length, so a file about to be
published as it is has its real length read first (MP3 frames walked here, else ffmpeg).
Every finished file, encoded or not, is held to MAX_DURATION by ``check_length`` and
described by ``file_facts`` (length, codec, bitrate, sample rate, channels).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.profiles import Variant, remux_args
from ..sources import ffmpeg as ffmpeg_tool
from ..sources import metadata
from ..sources.containers import mpegaudio, oggopus
from ..sources.jobcontrol import Control, JobError

OPUS_SAMPLE_RATE = 48_000
# Seconds a finished file may run past MAX_DURATION (encoder padding, rounding) before it is too long.
LENGTH_SLACK = 1.0


def copy_or_remux(
    ffmpeg: str, source: Path, output: Path, variant: Variant, tags: dict[str, str], duration: float | None,
    max_duration: int, report, control: Control,
) -> None:  # fmt: skip
    """Put a source already in the target codec into the profile's file: copied in-process if we can, else ffmpeg."""
    if not _copy_in_process(ffmpeg, source, output, variant, tags, max_duration, control):
        bound = read_bound(max_duration)
        output_args = remux_args(variant) + (["-t", str(bound)] if bound else [])
        ffmpeg_tool.convert(ffmpeg, source, output, output_args, tags, duration, report, control)


def read_bound(max_duration: int) -> float | None:
    """How many seconds of a source to read at most: enough to tell that it is too long."""
    # An absurd setting (hundreds of digits) reads as "a very long time", not as a float overflow.
    return min(max_duration, 10**9) + 2 * LENGTH_SLACK if max_duration else None


def check_length(seconds: float | None, max_duration: int) -> None:
    """Refuse what plays longer than the limit, whatever the source's header said."""
    if max_duration and seconds and seconds > max_duration + LENGTH_SLACK:
        raise JobError(
            "TOO_LONG", f"The source plays for more than {max_duration} s (its header may say less); "
            f"the limit is {max_duration} s."
        )  # fmt: skip


def _copy_in_process(
    ffmpeg: str, source: Path, output: Path, variant: Variant, tags: dict[str, str], max_duration: int,
    control: Control,
) -> bool:  # fmt: skip
    """Put a source already in the target codec into the profile's file without transcoding, if we can.

    Most sources of a remux are either the target file already (new tags are all it needs)
    or Opus in WebM bound for Ogg; an ffmpeg remux would be most of such a job. The Ogg
    copy writes its own lengths from the packets; a file retagged in place keeps its header,
    so its packets are read first: they must be audio of the right codec, and as long as
    the header says (else ffmpeg's remux writes a header that tells the truth).
    """
    profile = variant.profile
    audio = metadata.open_retaggable(source, profile.extension, profile.audio_codec)
    if audio is not None:
        demuxed = _real_audio(ffmpeg, source, profile.audio_codec, max_duration, control)
        if demuxed.codec != profile.audio_codec:
            raise JobError(
                "NO_AUDIO", f"The downloaded source is not readable {profile.audio_codec} audio "
                f"(ffmpeg found {demuxed.codec or 'none'})."
            )  # fmt: skip
        check_length(demuxed.duration, max_duration)
        claimed = float(getattr(audio.info, "length", 0) or 0)
        if abs(claimed - demuxed.duration) > max(LENGTH_SLACK, claimed * 0.01):
            return False
        metadata.retag(audio, tags)
        os.replace(source, output)
        return True
    if (profile.extension, profile.audio_codec) == ("ogg", "opus"):
        return oggopus.opus_to_ogg(source, output, metadata.vorbis_comments(tags))
    return False


def _real_audio(ffmpeg: str, source: Path, codec: str, max_duration: int, control: Control) -> ffmpeg_tool.Demuxed:
    """Codec and real length of a file about to be published as it is: an MP3's frames walked here, else by ffmpeg."""
    bound = read_bound(max_duration)
    if codec == "mp3" and (seconds := mpegaudio.real_length(source, bound)) is not None:
        return ffmpeg_tool.Demuxed("mp3", seconds)  # every byte was a Layer III frame, back to back
    return ffmpeg_tool.demux_audio(ffmpeg, source, bound, control)


def file_facts(ffmpeg: str, output: Path, variant: Variant) -> dict[str, Any]:
    """Length, codec, bitrate, sample rate and channels of the finished file."""
    facts = metadata.read_stream_info(output)
    if variant.profile.audio_codec == "opus" and facts.get("duration"):
        facts["sample_rate"] = facts.get("sample_rate") or OPUS_SAMPLE_RATE  # Opus always decodes at 48 kHz
    if not all(facts.get(key) for key in ("duration", "sample_rate", "channels")):
        # mutagen reads no Matroska/WebM and no Opus sample rate; ffmpeg's own report fills the gaps.
        streams = ffmpeg_tool.probe(ffmpeg, output)
        probed = {
            "duration": streams.duration,
            "bitrate": streams.bitrate,
            "sample_rate": streams.sample_rate,
            "channels": streams.channels,
        }
        facts = {key: facts.get(key) or probed[key] for key in probed}
    return {
        "duration": facts.get("duration"),
        "codec": variant.profile.audio_codec,
        "bitrate": facts.get("bitrate") or variant.bitrate,
        "sample_rate": facts.get("sample_rate"),
        "channels": facts.get("channels"),
    }
