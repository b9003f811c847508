"""The media profiles of API.md: containers, codecs, bitrate and resolution rules, ffmpeg arguments."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.errors import DomainError, shown
from .edits import NO_EDITS, Edits

RESOLUTIONS = {"144p": 144, "240p": 240, "360p": 360, "480p": 480, "720p": 720, "1080p": 1080}
DEFAULT_RESOLUTION = "720p"
# Video profiles encode their audio at this rate; clients choose only the resolution.
VIDEO_AUDIO_BITRATE = 128_000


@dataclass(frozen=True)
class Profile:
    name: str
    extension: str
    mime_type: str
    audio_codec: str  # ffmpeg's codec name as probing reports it
    audio_encoder: str
    min_bitrate: int | None = None
    max_bitrate: int | None = None
    default_bitrate: int | None = None
    video_codec: str | None = None
    video_encoder: str | None = None
    muxer_args: tuple[str, ...] = ()

    @property
    def is_video(self) -> bool:
        """Whether this profile keeps a picture."""
        return self.video_codec is not None

    @property
    def is_lossless(self) -> bool:
        """Lossless profiles take no bitrate."""
        return self.default_bitrate is None and not self.is_video

    def describe(self) -> dict:
        """The profile as ``GET /api`` lists it."""
        return {
            "name": self.name,
            "extension": self.extension,
            "mime_type": self.mime_type,
            "audio_codec": self.audio_encoder,
            "video_codec": self.video_encoder,
            "bitrate": None
            if self.default_bitrate is None
            else {"min": self.min_bitrate, "max": self.max_bitrate, "default": self.default_bitrate},
            "resolutions": list(RESOLUTIONS) if self.is_video else None,
            "default_resolution": DEFAULT_RESOLUTION if self.is_video else None,
        }


def _k(kbps: int) -> int:
    return kbps * 1000


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("mp3", "mp3", "audio/mpeg", "mp3", "libmp3lame", _k(64), _k(320), _k(192)),
        Profile("ogg-opus", "ogg", "audio/ogg", "opus", "libopus", _k(6), _k(510), _k(128)),
        Profile("ogg-vorbis", "ogg", "audio/ogg", "vorbis", "libvorbis", _k(48), _k(256), _k(128)),
        Profile("m4a-aac", "m4a", "audio/mp4", "aac", "aac", _k(64), _k(320), _k(192), muxer_args=("-f", "ipod")),
        Profile("flac", "flac", "audio/flac", "flac", "flac"),
        Profile(
            "mp4-h264",
            "mp4",
            "video/mp4",
            "aac",
            "aac",
            video_codec="h264",
            video_encoder="libx264",
            # faststart puts the index first so a browser can play before the download ends.
            muxer_args=("-movflags", "+faststart"),
        ),
        Profile("webm-vp9", "webm", "video/webm", "opus", "libopus", video_codec="vp9", video_encoder="libvpx-vp9"),
    )
}

# Far above any profile's range: anything larger reads as this, and is refused as out of range.
MAX_PARSED_BITRATE = 10**12
# ASCII digits only: float() would read "١٢٨" (Arabic-Indic digits) as 128.
_BITRATE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmM]?)\s*(?:bps|b/s)?\s*$", re.ASCII)


@dataclass(frozen=True)
class Variant:
    """A profile with its settled bitrate and resolution: what one cache entry holds."""

    profile: Profile
    bitrate: int | None
    resolution: str | None
    edits: Edits = NO_EDITS

    @property
    def key(self) -> str:
        """The part of the entry's unique key beside the URL (edits add a suffix; none, the key as before)."""
        return f"{self.profile.name}:{self.bitrate or ''}:{self.resolution or ''}{self.edits.key}"

    @property
    def height(self) -> int | None:
        """The largest picture height, for video profiles."""
        return RESOLUTIONS[self.resolution] if self.resolution else None


def parse_bitrate(value: object) -> int:
    """``192000``, ``"192000"``, ``"192k"`` or ``"192 kbps"`` → bits per second."""
    match = _BITRATE.fullmatch(str(value))
    if isinstance(value, bool) or not match:
        raise DomainError(
            "INVALID_BITRATE", f"Bitrate {shown(value)} is not a number of bits per second (e.g. 192000 or '192k')."
        )
    number = float(match.group(1)) * {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()]
    # Hundreds of digits make an infinite float; bound it so the range check, not int(), answers.
    return int(min(number, MAX_PARSED_BITRATE))


def resolve_variant(
    profile_name: str | None, bitrate: object, resolution: object, default_profile: str, edits: Edits = NO_EDITS
) -> Variant:
    """Check a client's profile/bitrate/resolution and fill in the defaults (``edits`` come settled)."""
    if bitrate not in (None, "") and profile_name in (None, ""):
        raise DomainError(
            "BITRATE_REQUIRES_PROFILE", "A bitrate needs a profile; pass profile too (e.g. profile=mp3&bitrate=192k)."
        )
    name = (profile_name or default_profile).strip().lower()
    profile = PROFILES.get(name)
    if profile is None:
        raise DomainError(
            "INVALID_PROFILE", f"Profile {shown(name)} is not supported; use one of: {', '.join(PROFILES)}."
        )
    return Variant(profile, _settle_bitrate(profile, bitrate), _settle_resolution(profile, resolution), edits)


def _settle_bitrate(profile: Profile, bitrate: object) -> int | None:
    if bitrate in (None, ""):
        return profile.default_bitrate
    if profile.default_bitrate is None:
        kind = "lossless" if profile.is_lossless else "a video profile; choose a resolution instead"
        raise DomainError("INVALID_BITRATE", f"Profile {profile.name!r} takes no bitrate ({kind}).")
    value = parse_bitrate(bitrate)
    if not profile.min_bitrate <= value <= profile.max_bitrate:
        raise DomainError(
            "INVALID_BITRATE",
            f"Bitrate {shown(bitrate)} is out of range for {profile.name}: use {profile.min_bitrate // 1000}k–"
            f"{profile.max_bitrate // 1000}k (default {profile.default_bitrate // 1000}k).",
        )
    return value


def _settle_resolution(profile: Profile, resolution: object) -> str | None:
    if resolution in (None, ""):
        return DEFAULT_RESOLUTION if profile.is_video else None
    if not profile.is_video:
        raise DomainError(
            "INVALID_RESOLUTION",
            f"Profile {profile.name!r} is audio only; resolution applies to mp4-h264 and webm-vp9.",
        )
    text = str(resolution).strip().lower()
    text = text if text.endswith("p") else f"{text}p"
    if text not in RESOLUTIONS:
        raise DomainError(
            "INVALID_RESOLUTION",
            f"Resolution {shown(resolution)} is not supported; use one of: {', '.join(RESOLUTIONS)}.",
        )
    return text


@dataclass(frozen=True)
class SourceStreams:
    """What probing the downloaded source found."""

    audio_codec: str | None
    video_codec: str | None
    height: int | None
    bitrate: int | None  # overall, bits per second
    duration: float | None
    sample_rate: int | None = None
    channels: int | None = None
    tags: dict | None = None  # the container's global tags, lower-cased keys


# Container overhead makes a stream's measured rate read a little above its nominal one.
REMUX_TOLERANCE = 1.05


def can_remux(variant: Variant, source: SourceStreams) -> bool:
    """The source already has the target codecs within the requested limits: copy, don't re-encode."""
    profile = variant.profile
    if source.audio_codec != profile.audio_codec or variant.edits.changes_audio:
        return False  # a clip or a gain changes the samples: those are encoded
    if profile.is_video:
        return (
            source.video_codec == profile.video_codec
            and source.height is not None
            and source.height <= (variant.height or 0)
        )
    if variant.bitrate is None:
        return True
    return source.bitrate is not None and source.bitrate <= variant.bitrate * REMUX_TOLERANCE


def remux_args(variant: Variant) -> list[str]:
    """Stream selection and muxer arguments that copy a source's streams into this variant's container.

    Encodes build theirs with the variant's edits and the loudness meter (core/encoding.py).
    """
    profile = variant.profile
    if not profile.is_video:
        return ["-map", "0:a:0", "-vn", "-sn", "-dn", "-c:a", "copy", *profile.muxer_args]
    return ["-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn", "-c", "copy", *profile.muxer_args]


# Every type a cached file is served as (the OpenAPI document lists them for /download and /cache).
FILE_TYPES = tuple(dict.fromkeys(profile.mime_type for profile in PROFILES.values()))
