"""Normalized metadata: yt-dlp's info cleaned up, merged with what the finished file really holds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import mutagen
from mutagen.flac import FLAC
from mutagen.mp3 import MP3, EasyMP3
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from yt_dlp.utils import unsmuggle_url

from ..core.profiles import SourceStreams

# Bracketed remarks that describe the upload, not the song.
_JUNK_WORDS = (
    r"official(?:\s+(?:music|lyrics?|hd|4k|audio|video|visuali[sz]er|mv))*(?:\s+(?:video|audio|clip|visuali[sz]er))?"
    r"|(?:music|lyrics?|lyric|audio|hd|hq)\s+(?:video|version)"
    r"|lyrics?|audio|video|visuali[sz]er|hd|hq|4k|uhd|1080p|720p|480p|360p|mv|m/v|clip officiel"
    r"|explicit|clean|full\s+(?:song|track|audio)|free\s+download|out\s+now|premiere|with\s+lyrics"
    r"|original\s+(?:video|audio)|video\s+oficial|audio\s+oficial|videoclip\s+oficial"
)
_JUNK_BRACKETED = re.compile(
    r"\s*[(\[【「]\s*(?:" + _JUNK_WORDS + r")(?:\s*(?:[/|&,+-]|and)\s*(?:" + _JUNK_WORDS + r"))*\s*[)\]】」]",
    re.IGNORECASE,
)
# "… | Official Video", "… - Official Audio", "… // Lyric Video" at the end, unbracketed.
_JUNK_SUFFIX = re.compile(r"\s*(?:\||//|-|–|—)\s*(?:" + _JUNK_WORDS + r")\s*$", re.IGNORECASE)
_ARTIST_SEPARATOR = re.compile(r"\s+[-–—]\s+|\s+[|~]\s+")
_EMPTY_BRACKETS = re.compile(r"[(\[]\s*[)\]]")
_QUOTED = re.compile(r'^["“”\'‘’](.+)["“”\'‘’]$')
_TOPIC_SUFFIX = re.compile(r"\s*-\s*Topic$")


def clean_title(title: str) -> str:
    """Strip upload junk like "(Official Video)" or "[HD]"; keep "(feat. X)", "(Remix)", "(Live)"."""
    cleaned = title
    for _ in range(3):  # junk often comes in layers: "Song (Official Video) [HD]"
        previous = cleaned
        cleaned = _JUNK_BRACKETED.sub("", cleaned)
        cleaned = _JUNK_SUFFIX.sub("", cleaned)
        if cleaned == previous:
            break
    cleaned = _EMPTY_BRACKETS.sub("", cleaned)
    cleaned = re.sub(r"\s{2,}", " ", cleaned).strip()
    cleaned = re.sub(r"^[\s\-–—|:~/]+|[\s\-–—|:~/]+$", "", cleaned).strip()
    quoted = _QUOTED.match(cleaned)
    if quoted:
        cleaned = quoted.group(1).strip()
    return cleaned or title.strip()


def split_artist_title(title: str) -> tuple[str | None, str]:
    """ "Artist - Title" → ("Artist", "Title"); no separator → (None, title)."""
    parts = _ARTIST_SEPARATOR.split(title, maxsplit=1)
    if len(parts) == 2 and parts[0].strip() and parts[1].strip():
        return parts[0].strip(), parts[1].strip()
    return None, title


def _first(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _as_list(value: Any) -> list[str]:
    if value in (None, "", []):
        return []
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value if item not in (None, "")]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _year(info: dict[str, Any]) -> int | None:
    for key in ("release_year", "release_date", "upload_date", "date", "year"):
        value = _first(info.get(key))
        match = re.match(r"^(\d{4})", str(value or ""), re.ASCII)
        if match:
            return int(match.group(1))
    return None


def describe_info(info: dict[str, Any], *, clean: bool = True, file_tags: dict[str, Any] | None = None) -> dict:
    """The metadata object of API.md from a yt-dlp info dict (and the source file's own tags, if any)."""
    tags = file_tags or {}
    raw_title = _first(tags.get("title")) or info.get("track") or info.get("title") or info.get("id") or "Untitled"
    artist = (
        _first(tags.get("artist"))
        or _first(info.get("artists"))
        or info.get("artist")
        or _first(info.get("creators"))
        or info.get("creator")
    )
    title = clean_title(raw_title) if clean else raw_title
    if not artist:
        split_artist, split_title = split_artist_title(title)
        if split_artist:
            artist, title = split_artist, (split_title if clean else raw_title)
    if not artist:
        uploader = info.get("uploader") or info.get("channel")
        artist = _TOPIC_SUFFIX.sub("", uploader) if uploader and info.get("extractor_key") != "Generic" else None
    album_artists = _as_list(tags.get("albumartist") or info.get("album_artists") or info.get("album_artist"))
    genres = _as_list(tags.get("genre") or info.get("genres") or info.get("genre"))
    album = _first(tags.get("album")) or info.get("album")
    return {
        "title": plain_text(title) or "Untitled",
        "artist": plain_text(artist) or None,
        "album": plain_text(album) or None,
        "albumArtist": [text for text in map(plain_text, album_artists[:MAX_TAG_VALUES]) if text],
        "year": _year({"date": _first(tags.get("date")), **info}) if tags.get("date") else _year(info),
        "genre": [text for text in map(plain_text, genres[:MAX_TAG_VALUES]) if text],
        "duration": info.get("duration"),
        "url": _public_url(info.get("webpage_url") or info.get("original_url") or info.get("url")),
    }


# Control characters (NUL included) and line/paragraph separators: never part of a name, and a NUL
# cannot even be passed to ffmpeg. Kept out of every tag we write and every value we return.
_CONTROL_RUN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


# A tag is sent in every poll, event and listing of its entry: a 100 kB album name must not be.
MAX_TAG_CHARS = 512
MAX_TAG_VALUES = 16  # of a list tag (genres, album artists)
MAX_TAGS = 32  # distinct tags of a file reported under metadata.tags


def plain_text(value: Any) -> str:
    """A tag value as one line of text, at most ``MAX_TAG_CHARS``: runs of control characters become one space."""
    return (
        _CONTROL_RUN.sub(" ", str(value)[: 4 * MAX_TAG_CHARS]).strip()[:MAX_TAG_CHARS]
        if value not in (None, "")
        else ""
    )


def _public_url(url: str | None) -> str | None:
    """yt-dlp smuggles private data into URL fragments; clients must never see it."""
    return unsmuggle_url(url)[0] if url else None


# Technical tags a muxer writes; they describe the file, not the music.
_TECHNICAL_TAGS = {"encoder", "duration", "encoded_by", "major_brand", "minor_version", "compatible_brands"}


# Tags the metadata object is made of.
_NAMED_TAGS = {"title", "artist", "album", "albumartist", "date", "genre", "tracknumber", "discnumber"}


# Tags whose several values are several things (API.md's genre and albumArtist are lists).
_LIST_TAGS = {"genre", "albumartist"}


def read_tags(path: Path) -> dict[str, Any]:
    """The common tags of an audio file (title, artist, album, …) as plain values; {} if unreadable."""
    try:
        audio = mutagen.File(path, easy=True)
    except (mutagen.MutagenError, OSError, ValueError):
        return {}
    if audio is None or audio.tags is None:
        return {}
    tags: dict[str, Any] = {}
    # The tags the API names first, so that a file with hundreds of its own cannot push them out.
    keys = sorted(audio.tags.keys(), key=lambda key: (key.lower() not in _NAMED_TAGS, key.lower()))
    for key in keys:
        if key.lower() in _TECHNICAL_TAGS or len(key) > MAX_TAG_CHARS:
            continue
        if len(tags) == MAX_TAGS:
            break
        value = audio.tags[key]
        values = [str(item)[:MAX_TAG_CHARS] for item in (value if isinstance(value, list) else [value])][
            :MAX_TAG_VALUES
        ]
        if values and key.lower() not in _LIST_TAGS:
            # mutagen splits ID3 text at NUL ("Evil\0Title" in v2.3 reads as two values): one value
            # cut off at the first NUL would hide the rest; a NUL becomes a space as in every format.
            tags[key.lower()] = " ".join(values)
        elif values:
            tags[key.lower()] = values[0] if len(values) == 1 else values
    return tags


def read_stream_info(path: Path) -> dict[str, Any]:
    """Length and stream facts mutagen reads from the finished file; {} for containers it cannot parse."""
    try:
        audio = mutagen.File(path)
    except (mutagen.MutagenError, OSError, ValueError):
        return {}
    if audio is None or audio.info is None:
        return {}
    info = audio.info
    return {
        "duration": round(float(info.length), 3) if getattr(info, "length", None) else None,
        "bitrate": getattr(info, "bitrate", None) or None,
        "sample_rate": getattr(info, "sample_rate", None),
        "channels": getattr(info, "channels", None),
    }


# The tag names ffmpeg is given (pipeline) and mutagen's easy names for them.
_EASY_TAG_NAMES = {"title": "title", "artist": "artist", "album": "album", "album_artist": "albumartist",
                   "date": "date", "genre": "genre"}  # fmt: skip


def vorbis_comments(tags: dict[str, str]) -> list[tuple[str, str]]:
    """Our tags as the Vorbis comments (Ogg, FLAC) that ``retag`` would write."""
    return [(_EASY_TAG_NAMES[name].upper(), value) for name, value in tags.items() if value]


def open_retaggable(path: Path, extension: str, audio_codec: str | None):
    """The file opened by mutagen if it already is a finished ``extension``/``audio_codec`` file; else None.

    A source that is already in the target container needs new tags, not an ffmpeg pass
    that copies every byte. Its ``info.length`` is what its header claims, nothing more.
    """

    kinds = {("mp3", "mp3"): EasyMP3, ("ogg", "opus"): OggOpus, ("ogg", "vorbis"): OggVorbis, ("flac", "flac"): FLAC}
    kind = kinds.get((extension, audio_codec))
    try:
        audio = mutagen.File(path, easy=True)
    except (mutagen.MutagenError, OSError, ValueError):
        return None
    if kind is None or type(audio) is not kind:
        return None
    return audio


def retag(audio, tags: dict[str, str]) -> None:
    """Replace every tag of a file from ``open_retaggable``: old tags (and embedded pictures) go, as through ffmpeg."""

    audio.delete()
    if isinstance(audio, FLAC):
        audio.clear_pictures()
    if audio.tags is None:
        audio.add_tags()
    for name, value in tags.items():
        if value:
            audio.tags[_EASY_TAG_NAMES[name]] = value
    audio.save(padding=lambda _info: 0)  # nothing edits these tags later; room for that would be waste


def audio_streams(path: Path):
    """Codec, bitrate, length, rate and channels of an MP3/Ogg/FLAC file by mutagen; None for other containers.

    Much cheaper than running ffmpeg to probe, and these are the common audio sources.
    """

    codecs = {MP3: "mp3", OggOpus: "opus", OggVorbis: "vorbis", FLAC: "flac"}
    try:
        audio = mutagen.File(path)
    except (mutagen.MutagenError, OSError, ValueError):
        return None
    codec = codecs.get(type(audio))
    if codec is None or not getattr(audio.info, "length", 0):
        return None
    length = float(audio.info.length)
    bitrate = getattr(audio.info, "bitrate", 0) or int(path.stat().st_size * 8 / length)
    sample_rate = getattr(audio.info, "sample_rate", None) or (48_000 if codec == "opus" else None)
    return SourceStreams(codec, None, None, bitrate, length, sample_rate, getattr(audio.info, "channels", None), None)
