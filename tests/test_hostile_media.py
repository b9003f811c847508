"""Media that lies: headers that claim less than the file plays, programs served as audio."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import mutagen
import pytest
from mutagen.flac import FLAC
from mutagen.mp3 import MP3

from mediacache.sources import ffmpeg
from mediacache.sources.ffmpeg import find_ffmpeg
from tests.helpers import wait_for_entry

LIMIT = 10  # MAX_DURATION of these tests, in seconds
REAL_SECONDS = 60  # what the forged files really play


def _ffmpeg(*args: str) -> None:
    subprocess.run([find_ffmpeg(None), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _tone(seconds: int, codec_args: list[str], target: Path) -> Path:
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}:sample_rate=8000", "-ac", "1",
            *codec_args, "-metadata", "title=Forged", "-metadata", "artist=Liar", str(target))  # fmt: skip
    return target


def forged_mp3(folder: Path, claimed_frames: int = 60, *, junk: bool = False) -> Path:
    """A 60 s MP3 whose Xing/Info header counts ``claimed_frames`` frames (about 4 s); ``junk`` in its middle."""
    path = _tone(REAL_SECONDS, ["-c:a", "libmp3lame", "-b:a", "8k"], folder / "forged.mp3")
    data = bytearray(path.read_bytes())
    tag = max(data.find(b"Xing"), data.find(b"Info"))
    assert tag > 0 and struct.unpack(">I", data[tag + 4 : tag + 8])[0] & 1  # the frame count is present
    data[tag + 8 : tag + 12] = struct.pack(">I", claimed_frames)
    if junk:  # players skip it; the in-process frame walk gives up and leaves the file to ffmpeg
        data[len(data) // 2 : len(data) // 2] = bytes(500)
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


@pytest.mark.parametrize(("profile", "junk"), [("mp3", False), ("mp3", True), ("ogg-opus", False)])
def test_an_mp3_whose_header_claims_4_s_but_plays_60_is_too_long(configured, media_server, media_folder, profile, junk):
    forged_mp3(media_folder, junk=junk)
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
    convert = ffmpeg.convert

    def measured_convert(ffmpeg, source, target, *args, **kwargs):
        converted = convert(ffmpeg, source, target, *args, **kwargs)
        produced.append(mutagen.File(target).info.length)
        return converted

    monkeypatch.setattr(ffmpeg, "convert", measured_convert)
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


def test_an_honest_mp3_is_retagged_without_starting_ffmpeg(app, client, admin, media_server, monkeypatch):
    def no_ffmpeg(*args, **kwargs):
        raise AssertionError("an honest mp3 → mp3 started ffmpeg")

    # Its frames are walked in-process: ffmpeg's start-up would be most of such a job.
    monkeypatch.setattr(ffmpeg, "convert", no_ffmpeg)
    monkeypatch.setattr(ffmpeg, "demux_audio", no_ffmpeg)
    body = queue(client, admin, media_server.url("/media/tone.mp3"), profile="mp3")
    assert body["status"] == "completed", body["error"]
    assert body["length_ms"] == pytest.approx(3000, abs=100)


def test_the_frame_walk_answers_only_for_frames_back_to_back(tmp_path, media_folder):
    from mediacache.sources.containers.mpegaudio import real_length

    tone = (media_folder / "tone.mp3").read_bytes()
    clean = tmp_path / "clean.mp3"
    clean.write_bytes(tone + b"TAG" + bytes(125))  # an ID3v1 tag at the end is fine
    assert real_length(clean) == pytest.approx(MP3(media_folder / "tone.mp3").info.length)
    assert real_length(forged_mp3(tmp_path)) == pytest.approx(REAL_SECONDS, abs=0.3)  # with the encoder padding
    assert real_length(forged_mp3(tmp_path), bound=12) == pytest.approx(12, abs=0.2)  # stops past the bound
    for name, data in [
        ("cut.mp3", tone[:-100]),  # a cut-off last frame
        ("hidden.mp3", tone + b"TAG" + bytes(125) + tone),  # frames behind a tag would still play
        ("junk.mp3", tone[:5000] + bytes(300) + tone[5000:]),
        ("ls.mp3", Path("/bin/ls").read_bytes()),
        ("empty.mp3", b""),
    ]:
        (tmp_path / name).write_bytes(data)
        assert real_length(tmp_path / name) is None, name


@pytest.mark.parametrize("name", ["ls.mp3", "ls.aac"])
def test_a_program_served_as_audio_is_not_published(app, client, admin, media_server, media_folder, name):
    shutil.copyfile("/bin/ls", media_folder / name)  # as .mp3 mutagen takes it for MP3, as .aac ffmpeg for AAC
    failed = queue(client, admin, media_server.url(f"/media/{name}"), profile="mp3")
    assert failed["status"] == "failed" and failed["error"]["code"] == "NO_AUDIO", failed
    assert published_files(app) == []


# --- hostile tags and names -----------------------------------------------------------------


@pytest.mark.parametrize("profile", ["ogg-opus", "flac"])
def test_a_nul_and_control_characters_in_source_tags_are_dropped(
    app, client, admin, media_server, media_folder, profile
):
    source = _tone(2, ["-c:a", "flac"], media_folder / "nul-tags.flac")
    audio = FLAC(source)
    audio["title"], audio["artist"], audio["genre"] = "Bad\x00Title", "Evil\x1b[31mArtist\r\n", "\x00"
    audio.save()
    body = queue(client, admin, media_server.url("/media/nul-tags.flac"), profile=profile)
    assert body["status"] == "completed", body["error"]
    meta = body["metadata"]
    assert (meta["title"], meta["artist"], meta["genre"]) == ("Bad Title", "Evil [31mArtist", [])
    served = mutagen.File(Path(app.config["STATIC_CACHE"]) / body["id"] / body["path"].rsplit("/", 1)[1])
    assert served["title"] == ["Bad Title"] and served["artist"] == ["Evil [31mArtist"]


def test_a_tag_that_is_not_utf8_does_not_break_probing(app, client, admin, media_server, media_folder):
    source = _tone(2, ["-c:a", "aac", "-metadata", "album=ABCDEFGH"], media_folder / "not-utf8.m4a")
    source.write_bytes(source.read_bytes().replace(b"ABCDEFGH", b"AB\xff\xfe\xc3(GH"))  # ffmpeg prints these as is
    body = queue(client, admin, media_server.url("/media/not-utf8.m4a"), profile="mp3")
    assert body["status"] == "completed", body["error"]


@pytest.mark.parametrize("bitrate", ["9" * 400, int("9" * 400), "9" * 400 + "k"], ids=["text", "number", "kilo"])
def test_a_bitrate_of_400_digits_is_an_invalid_bitrate_not_a_server_error(client, admin, bitrate):
    response = client.post(
        "/api/media/queue", json={"url": "https://music.example/a.mp3", "profile": "mp3", "bitrate": bitrate},
        headers=admin,
    )  # fmt: skip
    assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_BITRATE"
    assert "64k" in response.json["error"]["message"] and response.json["request_id"]


def _download_names(app, client, headers, artist: str, title: str) -> tuple[str, str]:
    """The entry's download answer's Content-Disposition, and the entry id."""
    from mediacache.db import media_repo
    from mediacache.db.extensions import db
    from tests.helpers import finished_entry

    media_id = finished_entry(app)
    with app.app_context():
        media_repo.change(media_id, media_metadata={"artist": artist, "title": title})
        db.session.commit()
    response = client.get(f"/api/media/{media_id}/download", headers=headers)
    assert response.status_code == 200
    return response.headers["Content-Disposition"], media_id


def test_download_name_drops_bidi_zero_width_and_control_characters(app, client, admin):
    from urllib.parse import quote

    disposition, _ = _download_names(app, client, admin, "Art\u202eist\u200b", "Ti\u2066t\u200dle\x07 \u2028Ёлка")
    name = "Artist - Title Ёлка.mp3"
    assert disposition == f"attachment; filename=\"Artist - Title.mp3\"; filename*=UTF-8''{quote(name, safe='')}"


@pytest.mark.parametrize(("artist", "title", "fallback"), [
    ("Björk", "Jóga", "Bjork - Joga.mp3"),  # accents transliterated
    ("Ёлка", "Дед Мороз", None),  # nothing ASCII is left: the entry id
    ("坂本龍一", "Merry Christmas Mr. Lawrence", "Merry Christmas Mr. Lawrence.mp3"),
])  # fmt: skip
def test_download_ascii_fallback_is_transliterated_or_the_entry_id_never_a_bare_extension(
    app, client, admin, artist, title, fallback
):
    disposition, media_id = _download_names(app, client, admin, artist, title)
    assert disposition.startswith(f"attachment; filename=\"{fallback or media_id + '.mp3'}\"; filename*=UTF-8''")


def test_a_served_file_named_in_another_script_falls_back_to_the_entry_id(app, client):
    from mediacache.db import media_repo
    from mediacache.db.extensions import db
    from tests.helpers import finished_entry

    media_id = finished_entry(app)
    folder = Path(app.config["STATIC_CACHE"]) / media_id
    next(folder.iterdir()).rename(folder / "ёлка.mp3")
    with app.app_context():
        media_repo.change(media_id, file_name="ёлка.mp3")
        db.session.commit()
    response = client.get(f"/cache/{media_id}/ёлка.mp3")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith(f'inline; filename="{media_id}.mp3"; filename*=')


@pytest.mark.parametrize("profile", ["mp3", "flac"])
def test_huge_and_countless_tags_are_cut_to_size(app, client, admin, media_server, media_folder, profile):
    """Tags go out in every poll, event and listing: a 100 kB album or 200 custom tags must not."""
    source = _tone(2, ["-c:a", "flac"], media_folder / "huge-tags.flac")
    audio = FLAC(source)
    audio["album"], audio["comment"], audio["genre"] = "A" * 100_000, "C" * 100_000, [f"g{i}" for i in range(100)]
    for index in range(200):
        audio[f"custom{index}"] = "x"
    audio.save()
    body = queue(client, admin, media_server.url("/media/huge-tags.flac"), profile=profile)
    assert body["status"] == "completed", body["error"]
    meta = body["metadata"]
    assert meta["album"] == "A" * 512 and len(meta["genre"]) == 16
    assert len(meta["tags"]) <= 32 and all(len(str(value)) <= 512 * 16 for value in meta["tags"].values())
    assert len(json.dumps(body)) < 40_000
