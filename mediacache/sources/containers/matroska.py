"""Audio-only Matroska/WebM read in-process: its streams without an ffmpeg probe, its blocks for oggopus.

YouTube's best audio is Opus in WebM. ffmpeg needs about 0.1 s to start and demux a
three-minute file; reading the elements here takes a fraction of that. Anything this
reader does not fully understand (laced blocks, unknown element sizes, several tracks, a
damaged file) raises Unsupported or answers None, and the job falls back to ffmpeg.

Element IDs from RFC 9559 (Matroska) and the WebM guidelines.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ...core.profiles import SourceStreams

EBML_HEADER = 0x1A45DFA3
SEGMENT = 0x18538067
INFO = 0x1549A966
TIMESTAMP_SCALE = 0x2AD7B1
DURATION = 0x4489
TITLE = 0x7BA9
TRACKS = 0x1654AE6B
TRACK_ENTRY = 0xAE
TRACK_NUMBER = 0xD7
TRACK_TYPE = 0x83
CODEC_ID = 0x86
CODEC_PRIVATE = 0x63A2
AUDIO = 0xE1
CONTENT_ENCODINGS = 0x6D80
SAMPLING_FREQUENCY = 0xB5
CHANNELS = 0x9F
TAGS = 0x1254C367
TAG = 0x7373
TARGETS = 0x63C0
SIMPLE_TAG = 0x67C8
TAG_NAME = 0x45A3
TAG_STRING = 0x4487
CLUSTER = 0x1F43B675
SIMPLE_BLOCK = 0xA3
BLOCK_GROUP = 0xA0
BLOCK = 0xA1
DISCARD_PADDING = 0x75A2

AUDIO_TRACK = 2
# Matroska codec IDs and the names ffmpeg (and so the profiles) give those codecs.
AUDIO_CODECS = {"A_OPUS": "opus", "A_VORBIS": "vorbis", "A_FLAC": "flac", "A_MPEG/L3": "mp3"}


class Unsupported(Exception):
    """Something this reader does not handle; ffmpeg will."""


@dataclass
class Track:
    number: int
    kind: int | None = None
    codec_id: str = ""
    codec_private: bytes = b""
    sample_rate: float | None = None
    channels: int | None = None
    encoded: bool = False  # compressed or encrypted blocks: not the codec's own packets


@dataclass
class MatroskaFile:
    """The header facts of a Matroska file and where its clusters are."""

    size: int
    duration: float | None = None
    tracks: list[Track] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    clusters: list[tuple[int, int]] = field(default_factory=list)

    @property
    def audio_track(self) -> Track | None:
        audio = [track for track in self.tracks if track.kind == AUDIO_TRACK]
        return audio[0] if len(audio) == 1 and len(self.tracks) == 1 else None


def _vint(data, pos: int) -> tuple[int, int]:
    """An EBML variable-length integer at ``pos``: (value, length); -1 for an unknown size."""
    first = data[pos]
    if first == 0:
        raise Unsupported("EBML number longer than 8 bytes")
    length = 9 - first.bit_length()
    value = first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    if value == (1 << (7 * length)) - 1:
        return -1, length
    return value, length


def _element_id(data, pos: int) -> tuple[int, int]:
    """An element ID keeps its length marker bits, as the specifications write IDs."""
    first = data[pos]
    if first < 0x10:
        raise Unsupported("invalid element ID")
    length = 9 - first.bit_length()
    return int.from_bytes(data[pos : pos + length], "big"), length


def children(data, start: int, end: int):
    """(id, payload start, payload end) of each element between ``start`` and ``end``."""
    pos = start
    while pos < end:
        element, id_length = _element_id(data, pos)
        size, size_length = _vint(data, pos + id_length)
        payload = pos + id_length + size_length
        if size < 0 or payload + size > end:
            raise Unsupported("unknown or overlong element size")
        yield element, payload, payload + size
        pos = payload + size


def _uint(data, start: int, end: int) -> int:
    return int.from_bytes(data[start:end], "big")


def _text(data, start: int, end: int) -> str:
    return bytes(data[start:end]).rstrip(b"\0").decode("utf-8", "replace")


def _float(data, start: int, end: int) -> float:
    return struct.unpack(">f" if end - start == 4 else ">d", data[start:end])[0]


def read_structure(data) -> MatroskaFile:
    size = len(data)
    header, _, header_end = next(children(data, 0, size))
    if header != EBML_HEADER:
        raise Unsupported("not an EBML file")
    segment, id_length = _element_id(data, header_end)
    segment_size, size_length = _vint(data, header_end + id_length)
    if segment != SEGMENT:
        raise Unsupported("no segment after the EBML header")
    segment_start = header_end + id_length + size_length
    # A live or piped recording could not go back to write its size: the segment runs to the end.
    segment_end = size if segment_size < 0 else segment_start + segment_size
    source = MatroskaFile(size)
    scale = 1_000_000  # nanoseconds per timestamp unit unless Info says otherwise
    for element, start, end in children(data, segment_start, segment_end):
        if element == INFO:
            raw_duration = None
            for child, child_start, child_end in children(data, start, end):
                if child == TIMESTAMP_SCALE:
                    scale = _uint(data, child_start, child_end)
                elif child == DURATION:
                    raw_duration = _float(data, child_start, child_end)
                elif child == TITLE:
                    source.tags.setdefault("title", _text(data, child_start, child_end))
            source.duration = raw_duration * scale / 1e9 if raw_duration else None
        elif element == TRACKS:
            source.tracks = [_read_track(data, start, end) for kind, start, end in children(data, start, end)
                           if kind == TRACK_ENTRY]  # fmt: skip
        elif element == TAGS:
            _read_global_tags(data, start, end, source.tags)
        elif element == CLUSTER:
            source.clusters.append((start, end))
    return source


def _read_track(data, start: int, end: int) -> Track:
    track = Track(number=0)
    for element, child_start, child_end in children(data, start, end):
        if element == TRACK_NUMBER:
            track.number = _uint(data, child_start, child_end)
        elif element == TRACK_TYPE:
            track.kind = _uint(data, child_start, child_end)
        elif element == CODEC_ID:
            track.codec_id = _text(data, child_start, child_end)
        elif element == CODEC_PRIVATE:
            track.codec_private = bytes(data[child_start:child_end])
        elif element == CONTENT_ENCODINGS:
            track.encoded = True
        elif element == AUDIO:
            for child, audio_start, audio_end in children(data, child_start, child_end):
                if child == SAMPLING_FREQUENCY:
                    track.sample_rate = _float(data, audio_start, audio_end)
                elif child == CHANNELS:
                    track.channels = _uint(data, audio_start, audio_end)
    return track


def _read_global_tags(data, start: int, end: int, tags: dict[str, str]) -> None:
    """Tags whose targets name no track, chapter or attachment describe the whole file."""
    for element, tag_start, tag_end in children(data, start, end):
        if element != TAG:
            continue
        parts = list(children(data, tag_start, tag_end))
        targets = [(child_start, child_end) for child, child_start, child_end in parts if child == TARGETS]
        # Inside Targets only TargetTypeValue (0x68CA) and TargetType (0x63CA) leave a tag global.
        if any(kind not in (0x68CA, 0x63CA) for span in targets for kind, _, _ in children(data, *span)):
            continue
        for child, child_start, child_end in parts:
            if child != SIMPLE_TAG:
                continue
            simple = {kind: (s, e) for kind, s, e in children(data, child_start, child_end)}
            if TAG_NAME in simple and TAG_STRING in simple:
                tags.setdefault(_text(data, *simple[TAG_NAME]).lower(), _text(data, *simple[TAG_STRING]).strip())


def mapped(path: Path):
    """The file mapped read-only into memory (close it, or use it in a with block)."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise Unsupported("empty file")
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def read_streams(path: Path) -> SourceStreams | None:
    """What ``ffmpeg.probe`` would report for an audio-only WebM whose codec we know; None otherwise."""
    try:
        with mapped(path) as data:
            if data[:4] != EBML_HEADER.to_bytes(4, "big"):
                return None
            source = read_structure(data)
    except (Unsupported, OSError, ValueError, IndexError, StopIteration, struct.error):
        return None
    track = source.audio_track
    codec = AUDIO_CODECS.get(track.codec_id) if track else None
    if track is None or codec is None or not source.duration:
        return None
    sample_rate = int(track.sample_rate) if track.sample_rate else None
    bitrate = int(source.size * 8 / source.duration)  # what ffmpeg reports for a file with one stream
    return SourceStreams(codec, None, None, bitrate, source.duration, sample_rate, track.channels, source.tags)


def frames(data, source: MatroskaFile, track: Track):
    """(frame, nanoseconds of padding to discard at its end) for each block of the track, in file order."""
    for cluster_start, cluster_end in source.clusters:
        pos = cluster_start
        while pos < cluster_end:
            # The hot loop of a copy: a SimpleBlock with a one- or two-byte size, parsed inline.
            if data[pos] == SIMPLE_BLOCK and data[pos + 1] & 0xC0:
                first = data[pos + 1]
                if first & 0x80:
                    start, end = pos + 2, pos + 2 + (first & 0x7F)
                else:
                    start = pos + 3
                    end = start + (((first & 0x3F) << 8) | data[pos + 2])
                element = SIMPLE_BLOCK
            else:
                element, id_length = _element_id(data, pos)
                size, size_length = _vint(data, pos + id_length)
                if size < 0:
                    raise Unsupported("unknown element size")
                start = pos + id_length + size_length
                end = start + size
            if end > cluster_end:
                raise Unsupported("block past the end of its cluster")
            pos = end
            discard_ns = 0
            if element == BLOCK_GROUP:
                block = None
                for child, child_start, child_end in children(data, start, end):
                    if child == BLOCK:
                        block = (child_start, child_end)
                    elif child == DISCARD_PADDING:
                        discard_ns = int.from_bytes(data[child_start:child_end], "big", signed=True)
                if block is None:
                    continue
                start, end = block
            elif element != SIMPLE_BLOCK:
                continue
            number, length = _vint(data, start) if data[start] < 0x80 else (data[start] & 0x7F, 1)
            if number != track.number:
                continue
            if data[start + length + 2] & 0x06:
                raise Unsupported("laced blocks")
            if end - start <= length + 3:
                raise Unsupported("empty block")
            yield data[start + length + 3 : end], discard_ns
