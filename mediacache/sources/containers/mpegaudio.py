"""The real length of an MP3 file by walking its frames in-process, without ffmpeg.

An MP3's length in its Xing/Info header is whatever the uploader wrote; only its frames
say how long it plays. ffmpeg reads them too (a copy to the null muxer), but starting it
and passing every frame through its pipeline costs more than the rest of an mp3 → mp3
job. Here each frame header is read and the next one must follow exactly: a clean file,
the only kind this answers for, is walked in a few milliseconds. Anything else (junk
between frames, a cut-off last frame, another layer, free-format bitrates) answers None,
and ffmpeg decides.

Frame layout from ISO/IEC 11172-3 and 13818-3 (Layer III only).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .matroska import Unsupported, mapped

# kbit/s by bitrate index, Layer III: MPEG-1, then MPEG-2 and 2.5.
_BITRATES = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_BITRATES[0] = _BITRATES[2]
# Hz by sample rate index, for version bits 3 (MPEG-1), 2 (MPEG-2), 0 (MPEG-2.5).
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_LAYER_3 = 1
ID3V1_SIZE = 128
# Markers of the first frame that carries the encoder's header (no audio) instead of sound.
_INFO_FRAME_MARKERS = (b"Xing", b"Info", b"VBRI")


def real_length(path: Path, bound: float | None = None) -> float | None:
    """Seconds of audio in an MP3 that is nothing but Layer III frames (and tags); None for anything else.

    With ``bound``, the walk stops once it has passed that many seconds.
    """
    try:
        with mapped(path) as data:
            return _walk(data, bound)
    except (Unsupported, OSError, ValueError, IndexError):
        return None


def _walk(data, bound: float | None) -> float | None:
    position = _after_id3v2(data)
    first = _frame(data, position)
    if first is None:
        return None
    version, sample_rate, first_length = first
    samples_per_frame = 1152 if version == 3 else 576
    if any(marker in data[position : position + 64] for marker in _INFO_FRAME_MARKERS):
        position += first_length  # the encoder's header frame holds no sound
    enough = bound * sample_rate / samples_per_frame if bound else None
    frames, size = 0, len(data)
    lengths = _frame_lengths(version, sample_rate)  # by the header's 2nd and 3rd bytes: one look-up a frame
    while position < size and not (enough is not None and frames > enough):  # past the bound is all we need
        length = lengths.get(data[position + 1] << 8 | data[position + 2]) if data[position] == 0xFF else None
        if length is None:
            # Only an ID3v1 tag may follow, exactly to the end: frames hidden behind anything else would still play.
            if size - position == ID3V1_SIZE and data[position : position + 3] == b"TAG":
                break
            return None
        if position + length > size:
            return None  # a cut-off last frame
        position += length
        frames += 1
    return frames * samples_per_frame / sample_rate if frames else None


def _after_id3v2(data) -> int:
    """Where the audio starts: after any ID3v2 tags at the front."""
    position = 0
    while data[position : position + 3] == b"ID3" and len(data) >= position + 10:
        flags = data[position + 5]
        size = 0
        for byte in data[position + 6 : position + 10]:
            size = (size << 7) | (byte & 0x7F)
        position += 10 + size + (10 if flags & 0x10 else 0)
    return position


@lru_cache(maxsize=16)
def _frame_lengths(version: int, sample_rate: int) -> dict[int, int]:
    """Frame length by the 2nd and 3rd header bytes, for every Layer III header of this version and rate."""
    lengths = {}
    for key in range(0xE000, 0x10000):
        frame = _frame(bytes((0xFF, key >> 8, key & 0xFF)), 0)
        if frame is not None and frame[:2] == (version, sample_rate):
            lengths[key] = frame[2]
    return lengths


def _frame(data, position: int) -> tuple[int, int, int] | None:
    """(version bits, sample rate, frame length) of a Layer III frame header at ``position``; None if there is none."""
    if data[position] != 0xFF:
        return None
    second, third = data[position + 1], data[position + 2]
    version, layer = (second >> 3) & 3, (second >> 1) & 3
    bitrate_index, rate_index = third >> 4, (third >> 2) & 3
    if second & 0xE0 != 0xE0 or version == 1 or layer != _LAYER_3 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    sample_rate = _SAMPLE_RATES[version][rate_index]
    factor = 144 if version == 3 else 72
    return version, sample_rate, factor * _BITRATES[version][bitrate_index] * 1000 // sample_rate + ((third >> 1) & 1)
