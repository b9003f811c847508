"""WebM read in-process: the streams ffmpeg would report, and Opus copied into Ogg sample for sample."""

from __future__ import annotations

import struct
import subprocess

import pytest
from mutagen.oggopus import OggOpus

from mediacache.sources.containers import matroska
from mediacache.sources.containers.matroska import read_streams
from mediacache.sources.containers.oggopus import opus_to_ogg
from mediacache.sources.ffmpeg import find_ffmpeg, probe


def make(path, *args):
    """A file made by ffmpeg from a 3 s stereo tone, with ``args`` as its output options."""
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-ac", "2"]
    command = [find_ffmpeg(None), "-hide_banner", "-loglevel", "error", "-y", *tone, *args, str(path)]
    subprocess.run(command, check=True)
    return path


def decoded(path) -> bytes:
    """The PCM a player gets from a file: ffmpeg applies pre-skip, codec delay and end trimming."""
    result = subprocess.run([find_ffmpeg(None), "-v", "error", "-i", str(path), "-f", "s16le", "-"],
                            capture_output=True, check=True)  # fmt: skip
    return result.stdout


def warnings_of(path) -> str:
    """What ffmpeg complains about while reading a file through (an Ogg page CRC mismatch, say)."""
    result = subprocess.run([find_ffmpeg(None), "-v", "warning", "-i", str(path), "-f", "null", "-"],
                            capture_output=True, text=True)  # fmt: skip
    return result.stderr


def test_streams_of_a_webm_are_what_ffmpeg_reports(media_folder):
    source = media_folder / "tone.webm"
    ours, ffmpegs = read_streams(source), probe(find_ffmpeg(None), source)
    assert (ours.audio_codec, ours.video_codec, ours.sample_rate, ours.channels) == ("opus", None, 48000, 2)
    assert (ours.audio_codec, ours.sample_rate, ours.channels) == (
        ffmpegs.audio_codec, ffmpegs.sample_rate, ffmpegs.channels
    )  # fmt: skip
    assert ours.duration == pytest.approx(ffmpegs.duration, abs=0.02)
    assert ours.bitrate == pytest.approx(ffmpegs.bitrate, rel=0.02)  # what the remux check compares
    assert ours.tags["title"] == ffmpegs.tags["title"] == "Sine Song"
    assert ours.tags["artist"] == "Test Artist"


def test_files_the_reader_does_not_cover_are_left_to_ffmpeg(media_folder, tmp_path):
    video = make(tmp_path / "video.webm", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x64", "-shortest",
                 "-c:v", "libvpx-vp9", "-c:a", "libopus")  # fmt: skip
    assert read_streams(video) is None  # a video track: ffmpeg's probe knows its height and codec
    assert read_streams(media_folder / "tone.mp3") is None
    live = make(tmp_path / "live.webm", "-c:a", "libopus", "-live", "1")
    assert read_streams(live) is None  # no duration written: ffmpeg works it out


def test_opus_from_webm_becomes_ogg_opus_with_the_same_samples_and_only_our_tags(media_folder, tmp_path):
    source, output = media_folder / "tone.webm", tmp_path / "out.ogg"
    assert opus_to_ogg(source, output, [("TITLE", "Café"), ("ARTIST", "Test Artist")])
    # Sample for sample what the WebM decodes to: pre-skip kept, the final padding trimmed.
    assert decoded(output) == decoded(source)
    assert warnings_of(output) == ""  # page checksums, granule positions and headers all valid
    audio = OggOpus(output)
    assert audio.tags.as_dict() == {"title": ["Café"], "artist": ["Test Artist"]}
    assert audio.info.length == pytest.approx(3.0, abs=0.001)


def test_a_live_webm_without_sizes_is_copied_too(tmp_path):
    # Recordings that could not seek back (live, piped, a browser's MediaRecorder) leave the segment size open.
    source = make(tmp_path / "live.webm", "-c:a", "libopus", "-live", "1")
    assert opus_to_ogg(source, tmp_path / "out.ogg", [])
    assert decoded(tmp_path / "out.ogg") == decoded(source)


def test_what_the_copy_cannot_follow_is_refused_and_leaves_no_file(media_folder, tmp_path):
    output = tmp_path / "out.ogg"
    vorbis = make(tmp_path / "vorbis.webm", "-c:a", "libvorbis")
    assert not opus_to_ogg(vorbis, output, []) and not output.exists()

    data = bytearray((media_folder / "tone.webm").read_bytes())
    truncated = tmp_path / "truncated.webm"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    assert not opus_to_ogg(truncated, output, []) and not output.exists()

    # Lacing (several packets in one block) is legal Matroska that Opus muxers do not write.
    with matroska.mapped(media_folder / "tone.webm") as mapped:
        cluster = matroska.read_structure(mapped).clusters[0]
        block = next(start for kind, start, _ in matroska.children(mapped, *cluster) if kind == matroska.SIMPLE_BLOCK)
    data[block + 3] |= 0x02  # the flags, after the track number (one byte) and the timestamp (two)
    laced = tmp_path / "laced.webm"
    laced.write_bytes(data)
    assert not opus_to_ogg(laced, output, []) and not output.exists()


def ebml(element_id: int, *children: bytes) -> bytes:
    """One Matroska element, its size written as an 8-byte EBML number."""
    payload = b"".join(children)
    return (
        element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
        + (1 << 56 | len(payload)).to_bytes(8, "big")
        + payload
    )


def handmade_webm(*, track_extra: bytes = b"", discard_ns: int = 0) -> bytes:
    """Two 20 ms Opus packets (pre-skip 312), the second in a BlockGroup that may carry DiscardPadding."""
    opus_head = b"OpusHead" + bytes([1, 2]) + struct.pack("<HIhB", 312, 48000, 0, 0)
    packet = bytes([31 << 3]) + b"\x55" * 40  # TOC: CELT fullband, 20 ms, one frame
    block = b"\x81\x00\x00\x80" + packet  # track 1, timestamp 0, keyframe, no lacing
    track = ebml(0xAE, ebml(0xD7, b"\x01"), ebml(0x83, b"\x02"), ebml(0x86, b"A_OPUS"), ebml(0x63A2, opus_head),
                 track_extra)  # fmt: skip
    last = ebml(0xA0, ebml(0xA1, block), ebml(0x75A2, discard_ns.to_bytes(4, "big")) if discard_ns else b"")
    info = ebml(0x1549A966, ebml(0x2AD7B1, (1_000_000).to_bytes(3, "big")), ebml(0x4489, struct.pack(">d", 40.0)))
    cluster = ebml(0x1F43B675, ebml(0xE7, b"\x00"), ebml(0xA3, block), last)
    return ebml(0x1A45DFA3, ebml(0x4282, b"webm")) + ebml(0x18538067, info, ebml(0x1654AE6B, track), cluster)


def test_granule_positions_count_every_sample_and_trim_the_final_padding(tmp_path):
    source, output = tmp_path / "handmade.webm", tmp_path / "out.ogg"
    source.write_bytes(handmade_webm())
    assert opus_to_ogg(source, output, [])
    assert OggOpus(output).info.length == pytest.approx((2 * 960 - 312) / 48000)
    source.write_bytes(handmade_webm(discard_ns=10_000_000))  # the last 10 ms are padding
    assert opus_to_ogg(source, output, [])
    assert OggOpus(output).info.length == pytest.approx((2 * 960 - 480 - 312) / 48000)


def test_a_track_with_content_encodings_is_not_copied(tmp_path):
    # Header stripping or encryption changes the bytes of every block: they are not Opus packets any more.
    source, output = tmp_path / "encoded.webm", tmp_path / "out.ogg"
    source.write_bytes(handmade_webm(track_extra=ebml(0x6D80, ebml(0x6240, ebml(0x5035, b"")))))
    assert not opus_to_ogg(source, output, []) and not output.exists()
