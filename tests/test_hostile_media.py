"""Media that lies: headers that claim less than the file plays, programs served as audio."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import mutagen
import pytest
from mutagen.flac import FLAC
from mutagen.mp3 import MP3

from mediacache import downloader
from mediacache.downloader import find_ffmpeg
from tests.helpers import wait_for_entry

LIMIT = 10  # MAX_DURATION of these tests, in seconds
REAL_SECONDS = 60  # what the forged files really play


def _ffmpeg(*args: str) -> None:
    subprocess.run([find_ffmpeg(None), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _tone(seconds: int, codec_args: list[str], target: Path) -> Path:
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}:sample_rate=8000", "-ac", "1",
            *codec_args, "-metadata", "title=Forged", "-metadata", "artist=Liar", str(target))  # fmt: skip
    return target


def forged_mp3(folder: Path, claimed_frames: int = 60) -> Path:
    """A 60 s MP3 whose Xing/Info header counts ``claimed_frames`` frames (about 4 s)."""
    path = _tone(REAL_SECONDS, ["-c:a", "libmp3lame", "-b:a", "8k"], folder / "forged.mp3")
    data = bytearray(path.read_bytes())
    tag = max(data.find(b"Xing"), data.find(b"Info"))
    assert tag > 0 and struct.unpack(">I", data[tag + 4 : tag + 8])[0] & 1  # the frame count is present
    data[tag + 8 : tag + 12] = struct.pack(">I", claimed_frames)
    path.write_bytes(data)
    assert MP3(path).info.length < 5  # every header reader believes it
    return path


def forged_flac(folder: Path) -> Path:
    """A 60 s FLAC whose STREAMINFO says it holds 4 s of samples."""
    path = _tone(REAL_SECONDS, ["-c:a", "flac"], folder / "forged.flac")
    data = bytearray(path.read_bytes())
    start = 4 + 4 + 10  # "fLaC", the block header, then rates/channels/bits and 36 bits of sample count
    packed = int.from_bytes(data[start : start + 8], "big")
    packed = (packed & ~((1 << 36) - 1)) | (4 * 8000)
    data[start : start + 8] = packed.to_bytes(8, "big")
    path.write_bytes(data)
    assert FLAC(path).info.length == pytest.approx(4)
    return path


def forged_webm(folder: Path) -> Path:
    """A 60 s WebM Opus whose Segment Info says it lasts 4 s."""
    path = folder / "forged.webm"
    _ffmpeg("-f", "lavfi", "-i", f"sine=duration={REAL_SECONDS}", "-c:a", "libopus", "-b:a", "16k", str(path))
    data = bytearray(path.read_bytes())
    element = data.find(b"\x44\x89\x88")  # Duration, an 8-byte float in milliseconds
    assert element > 0
    data[element + 3 : element + 11] = struct.pack(">d", 4000.0)
    path.write_bytes(data)
    return path


def queue(client, headers, url, **params):
    response = client.post("/api/media/queue", json={"url": url, **params}, headers=headers)
    assert response.status_code == 201, response.json
    return wait_for_entry(client, response.json["id"], headers)


def published_files(app) -> list[Path]:
    return [path for path in Path(app.config["STATIC_CACHE"]).rglob("*") if path.is_file()]


@pytest.mark.parametrize("profile", ["mp3", "ogg-opus"])
def test_an_mp3_whose_header_claims_4_s_but_plays_60_is_too_long(configured, media_server, media_folder, profile):
    forged_mp3(media_folder)
    app, client, headers = configured(MAX_DURATION=LIMIT)
    failed = queue(client, headers, media_server.url("/media/forged.mp3"), profile=profile)
    assert failed["status"] == "failed" and failed["error"]["code"] == "TOO_LONG", failed
    assert failed["length_ms"] is None and published_files(app) == []


@pytest.mark.parametrize(("maker", "profile"), [(forged_flac, "flac"), (forged_webm, "ogg-opus")])
def test_flac_and_webm_headers_that_claim_4_s_do_not_pass_the_limit(
    configured, media_server, media_folder, maker, profile
):
    name = maker(media_folder).name
    app, client, headers = configured(MAX_DURATION=LIMIT)
    failed = queue(client, headers, media_server.url(f"/media/{name}"), profile=profile)
    assert failed["status"] == "failed" and failed["error"]["code"] == "TOO_LONG", failed
    assert published_files(app) == []


def test_a_transcode_of_a_lying_source_stops_just_past_the_limit(configured, media_server, media_folder, monkeypatch):
    forged_mp3(media_folder)
    produced: list[float] = []
    convert = downloader.convert

    def measured_convert(ffmpeg, source, target, *args, **kwargs):
        convert(ffmpeg, source, target, *args, **kwargs)
        produced.append(mutagen.File(target).info.length)

    monkeypatch.setattr(downloader, "convert", measured_convert)
    _app, client, headers = configured(MAX_DURATION=LIMIT)
    failed = queue(client, headers, media_server.url("/media/forged.mp3"), profile="ogg-opus")
    assert failed["error"]["code"] == "TOO_LONG"
    # ffmpeg was stopped a couple of seconds past the limit, not left to make all 60 s.
    assert produced and LIMIT < produced[0] <= LIMIT + 3


def test_length_ms_is_what_the_file_plays_not_what_its_header_claims(app, client, admin, media_server, media_folder):
    forged_mp3(media_folder)
    body = queue(client, admin, media_server.url("/media/forged.mp3"), profile="mp3")
    assert body["status"] == "completed", body["error"]
    assert body["length_ms"] == pytest.approx(REAL_SECONDS * 1000, abs=200)
    # The published file's own header was rewritten to tell the truth, for players that read it.
    served = Path(app.config["STATIC_CACHE"]) / body["id"] / body["path"].rsplit("/", 1)[1]
    assert MP3(served).info.length == pytest.approx(REAL_SECONDS, abs=0.2)


def test_an_honest_mp3_is_still_only_retagged(app, client, admin, media_server, monkeypatch):
    def no_convert(*args, **kwargs):
        raise AssertionError("an honest mp3 → mp3 went through an ffmpeg remux")

    monkeypatch.setattr(downloader, "convert", no_convert)
    body = queue(client, admin, media_server.url("/media/tone.mp3"), profile="mp3")
    assert body["status"] == "completed", body["error"]
    assert body["length_ms"] == pytest.approx(3000, abs=100)


@pytest.mark.parametrize("name", ["ls.mp3", "ls.aac"])
def test_a_program_served_as_audio_is_not_published(app, client, admin, media_server, media_folder, name):
    shutil.copyfile("/bin/ls", media_folder / name)  # as .mp3 mutagen takes it for MP3, as .aac ffmpeg for AAC
    failed = queue(client, admin, media_server.url(f"/media/{name}"), profile="mp3")
    assert failed["status"] == "failed" and failed["error"]["code"] == "NO_AUDIO", failed
    assert published_files(app) == []
