"""Gain tags for players that level tracks themselves: R128 in Opus, ReplayGain in MP3, M4A, FLAC and Vorbis.

Written with mutagen into the finished file before it is published (a served file is never
rewritten). The values come from the same measurement as ``metadata.loudness``.
"""

from __future__ import annotations

from pathlib import Path

import mutagen
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TXXX
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, MP4FreeForm
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

from ...core.loudness import Measured, r128_track_gain, replaygain

# Where iTunes-style players (and foobar2000, VLC, mpv) look for ReplayGain in MP4.
_MP4_FREEFORM = "----:com.apple.iTunes:"


def write_gain_tags(path: Path, measured: Measured) -> bool:
    """Tag ``path`` with the gain that brings it to the players' reference level; False if nothing was written."""
    if measured.integrated_lufs is None:
        return False  # silence: no gain brings it anywhere
    try:
        audio = mutagen.File(path)
    except (mutagen.MutagenError, OSError, ValueError):
        return False
    if isinstance(audio, OggOpus):
        # RFC 7845: relative to the header's output gain (0 as ffmpeg writes it); players add the gain.
        audio.tags["R128_TRACK_GAIN"] = r128_track_gain(measured.integrated_lufs)
    elif isinstance(audio, (OggVorbis, FLAC)):
        for name, value in replaygain(measured).items():
            audio.tags[name] = value
    elif isinstance(audio, MP3):
        if audio.tags is None:
            audio.add_tags()
        tags: ID3 = audio.tags
        for name, value in replaygain(measured).items():
            tags.add(TXXX(encoding=3, desc=name, text=[value]))
    elif isinstance(audio, MP4):
        if audio.tags is None:
            audio.add_tags()
        for name, value in replaygain(measured).items():
            audio.tags[_MP4_FREEFORM + name.lower()] = [MP4FreeForm(value.encode())]
    else:
        return False
    audio.save()
    return True


def read_gain_tags(path: Path) -> dict[str, str]:
    """The gain tags a file carries, by their upper-case names (what ``write_gain_tags`` wrote)."""
    audio = mutagen.File(path)
    found: dict[str, str] = {}
    if audio is None or audio.tags is None:
        return found
    for key, value in audio.tags.items():
        name = str(key).removeprefix(_MP4_FREEFORM).removeprefix("TXXX:").upper()
        if name.startswith(("R128_", "REPLAYGAIN_")):
            first = value[0] if isinstance(value, list) else value
            found[name] = bytes(first).decode() if isinstance(first, MP4FreeForm) else str(first)
    return found
