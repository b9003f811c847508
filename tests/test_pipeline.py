"""The pipeline end to end: real yt-dlp and ffmpeg against the loopback origin."""

from __future__ import annotations

import itertools
import subprocess
import time

import mutagen
import pytest
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

from mediacache.db.extensions import db
from mediacache.db.models import Media
from mediacache.jobs.run import PROGRESS_WRITE_INTERVAL
from mediacache.sources.ffmpeg import find_ffmpeg, probe
from tests.helpers import eventually, queue_and_wait, read_entry, wait_for_entry


def cached_file(app, body):
    """The published file of a completed entry, on disk."""
    from pathlib import Path

    return Path(app.config["STATIC_CACHE"]) / body["id"] / body["path"].rsplit("/", 1)[1]


def transcode_mode(app, media_id):
    """How the job made the file: 'remux' or 'encode'."""
    with app.app_context():
        return db.session.get(Media, media_id).transcode_mode


def test_tagged_mp3_becomes_ogg_opus_with_real_tags_and_length(app, client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), profile="ogg-opus", completed=False)
    assert body["status"] == "completed" and body["valid"] is True and body["cache_state"] == "live"
    assert body["extension"] == "ogg" and body["mime_type"] == "audio/ogg" and body["bitrate"] == 128000
    assert body["path"] == f"/cache/{body['id']}/test-artist-sine-song.ogg"
    assert abs(body["length_ms"] - 3000) < 100
    meta = body["metadata"]
    assert (meta["title"], meta["artist"], meta["album"], meta["year"]) == (
        "Sine Song",
        "Test Artist",
        "Test Album",
        2025,
    )
    assert meta["genre"] == ["electronic"] and meta["codec"] == "opus" and meta["sample_rate"] == 48000
    assert meta["channels"] == 2 and meta["tags"]["title"] == "Sine Song"
    audio = OggOpus(cached_file(app, body))
    assert audio["artist"] == ["Test Artist"] and abs(audio.info.length - 3.0) < 0.1
    assert body["size_bytes"] == cached_file(app, body).stat().st_size
    assert transcode_mode(app, body["id"]) == "encode"


def test_webm_opus_source_is_copied_into_ogg_without_ffmpeg(app, client, admin, media_server, monkeypatch):
    def ffmpeg_ran(*args, **kwargs):
        raise AssertionError("ffmpeg ran for a WebM Opus → ogg-opus copy")

    monkeypatch.setattr("mediacache.sources.ffmpeg.convert", ffmpeg_ran)
    monkeypatch.setattr("mediacache.sources.ffmpeg.probe", ffmpeg_ran)
    body = queue_and_wait(client, admin, media_server.url("/media/tone.webm"), profile="ogg-opus", completed=False)
    assert body["status"] == "completed", body["error"]
    assert transcode_mode(app, body["id"]) == "remux"
    # A re-encode would run at the profile's 128k; a copy keeps the source's 96k stream.
    assert body["metadata"]["codec"] == "opus" and body["metadata"]["bitrate"] < 120_000
    assert body["metadata"]["title"] == "Sine Song"  # tags read from the WebM container itself
    served = OggOpus(cached_file(app, body))
    assert served.tags["title"] == ["Sine Song"] and served.tags["artist"] == ["Test Artist"]
    assert body["length_ms"] == pytest.approx(3000, abs=20)


def test_webm_the_in_process_copy_cannot_read_is_remuxed_by_ffmpeg(app, client, admin, media_server, media_folder):
    data = (media_folder / "tone.webm").read_bytes()
    (media_folder / "cut-short.webm").write_bytes(data[: len(data) * 3 // 4])  # a download that broke off
    body = queue_and_wait(client, admin, media_server.url("/media/cut-short.webm"), profile="ogg-opus", completed=False)
    assert body["status"] == "completed", body["error"]
    assert transcode_mode(app, body["id"]) == "remux"
    served = OggOpus(cached_file(app, body))
    assert served.tags.vendor.startswith("Lavf")  # ffmpeg's muxer wrote it
    assert 1500 < body["length_ms"] < 3000  # what was there of it


def test_asking_for_a_lower_bitrate_than_the_source_reencodes(app, client, admin, media_server):
    body = queue_and_wait(
        client, admin, media_server.url("/media/tone.webm"), profile="ogg-opus", bitrate="48k", completed=False
    )
    assert transcode_mode(app, body["id"]) == "encode"
    assert body["bitrate"] == 48000 and body["metadata"]["bitrate"] < 70_000


@pytest.mark.parametrize(
    "profile, reader, codec",
    [
        ("mp3", MP3, "mp3"),
        ("ogg-vorbis", OggVorbis, "vorbis"),
        ("m4a-aac", MP4, "aac"),
        ("flac", FLAC, "flac"),
    ],
)
def test_each_audio_profile_produces_its_container_and_codec(app, client, admin, media_server, profile, reader, codec):
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), profile=profile, completed=False)
    assert body["status"] == "completed", body["error"]
    audio = mutagen.File(cached_file(app, body))
    assert isinstance(audio, reader)
    assert abs(audio.info.length - 3.0) < 0.15
    assert body["metadata"]["codec"] == codec and body["metadata"]["artist"] == "Test Artist"
    assert probe(find_ffmpeg(None), cached_file(app, body)).audio_codec == codec


def test_mp3_source_at_lower_bitrate_than_asked_is_copied(app, client, admin, media_server):
    body = queue_and_wait(
        client, admin, media_server.url("/media/tone.mp3"), profile="mp3", bitrate=320000, completed=False
    )
    assert transcode_mode(app, body["id"]) == "remux"


def test_a_source_already_in_the_target_format_keeps_its_audio_bytes_and_gets_only_our_tags(
    app, client, admin, media_server, media_folder
):
    from mutagen.id3 import APIC, ID3, TXXX

    source = media_folder / "with-art.mp3"
    source.write_bytes((media_folder / "tone.mp3").read_bytes())
    old = ID3(source)
    old.add(APIC(mime="image/png", type=3, desc="cover", data=b"\x89PNG not really"))
    old.add(TXXX(desc="tracker", text="something the uploader left"))
    old.save()
    body = queue_and_wait(client, admin, media_server.url("/media/with-art.mp3"), profile="mp3", completed=False)
    assert body["status"] == "completed" and transcode_mode(app, body["id"]) == "remux"
    served = cached_file(app, body)
    new = ID3(served)
    assert not new.getall("APIC") and not new.getall("TXXX")
    assert str(new["TIT2"]) == body["metadata"]["title"] and str(new["TPE1"]) == body["metadata"]["artist"]
    # Not a byte of audio changed: everything after the tag is the source's.
    assert served.read_bytes()[new.size :] == source.read_bytes()[ID3(source).size :]
    assert body["length_ms"] == pytest.approx(MP3(source).info.length * 1000, abs=50)


@pytest.mark.parametrize(("profile", "name", "codec_args", "reader"), [
    ("ogg-opus", "old-tags.ogg", ["-c:a", "libopus", "-b:a", "64k"], OggOpus),
    ("flac", "old-tags.flac", ["-c:a", "flac"], FLAC),
])  # fmt: skip
def test_ogg_opus_and_flac_sources_in_the_target_format_get_only_our_tags_without_an_ffmpeg_pass(
    app, client, admin, media_server, media_folder, profile, name, codec_args, reader
):
    ffmpeg = find_ffmpeg(None)
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=duration=2",
                    *codec_args, "-metadata", "title=Old Title", "-metadata", "comment=left by the uploader",
                    str(media_folder / name)], check=True)  # fmt: skip
    body = queue_and_wait(client, admin, media_server.url(f"/media/{name}"), profile=profile, completed=False)
    assert body["status"] == "completed" and transcode_mode(app, body["id"]) == "remux"
    served = reader(cached_file(app, body))
    assert served.tags["title"] == [body["metadata"]["title"]]
    # Only our tags: not the uploader's comment, and not the encoder stamp an ffmpeg pass leaves.
    assert {key.lower() for key, _value in served.tags} <= {"title", "artist", "album", "albumartist", "date", "genre"}
    assert body["length_ms"] == pytest.approx(2000, abs=60)


def test_video_becomes_mp4_h264_at_240p_with_faststart(app, client, admin, media_server):
    body = queue_and_wait(
        client, admin, media_server.url("/media/clip.mp4"), profile="mp4-h264", resolution="240p", completed=False
    )
    assert body["status"] == "completed", body["error"]
    assert body["resolution"] == "240p" and body["mime_type"] == "video/mp4"
    path = cached_file(app, body)
    streams = probe(find_ffmpeg(None), path)
    assert (streams.video_codec, streams.height, streams.audio_codec) == ("h264", 240, "aac")
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "the index must come first so browsers can stream"
    assert abs(body["length_ms"] - 2000) < 150


def test_video_becomes_webm_vp9(app, client, admin, media_server):
    body = queue_and_wait(
        client, admin, media_server.url("/media/clip.mp4"), profile="webm-vp9", resolution="144p", completed=False
    )
    assert body["status"] == "completed", body["error"]
    streams = probe(find_ffmpeg(None), cached_file(app, body))
    assert (streams.video_codec, streams.height, streams.audio_codec) == ("vp9", 144, "opus")
    assert body["length_ms"] and abs(body["length_ms"] - 2000) < 150


def test_audio_profile_of_a_video_keeps_only_the_sound(app, client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/clip.mp4"), profile="mp3", completed=False)
    streams = probe(find_ffmpeg(None), cached_file(app, body))
    assert streams.audio_codec == "mp3" and streams.video_codec is None


def test_html_page_with_an_audio_tag_is_followed(client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/page.html"), profile="mp3", completed=False)
    assert body["status"] == "completed" and body["metadata"]["title"] == "Sine Song"


def test_redirect_is_followed(client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/redirect/other.mp3"), completed=False)
    assert body["status"] == "completed"
    assert body["metadata"]["title"] == "Other Song"  # cleaned of "(Official Video)"


def test_dont_clean_title_keeps_the_source_title(client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/other.mp3"), dontCleanTitle="yes", completed=False)
    assert body["metadata"]["title"] == "Other Song (Official Video)"


def test_missing_source_fails_the_entry_with_a_mapped_code(client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/status/404"), completed=False)
    assert body["status"] == "failed" and body["valid"] is False
    assert body["error"]["code"] == "MEDIA_UNAVAILABLE"
    assert "Traceback" not in body["error"]["message"]


def test_origin_server_error_fails_with_upstream_error(client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/status/500"), completed=False)
    assert body["status"] == "failed" and body["error"]["code"] == "UPSTREAM_ERROR"


def test_feed_discovered_during_extraction_fails_as_playlist(client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/feed.rss"), completed=False)
    assert body["status"] == "failed" and body["error"]["code"] == "PLAYLIST_NOT_SUPPORTED"
    assert "/api/ytdlp" in body["error"]["message"]


def test_progress_is_visible_while_a_slow_download_runs(client, admin, media_server):
    media_server.trickle_delay = 0.1
    response = client.post("/api/media/queue", json={"url": media_server.url("/trickle/long.mp3")}, headers=admin)
    body = wait_for_entry(client, response.json["id"], admin, until=("downloading",))
    seen = eventually(
        lambda: (progress := read_entry(client, body["id"], admin)["progress"]) and progress.get("downloaded_bytes")
        and progress, timeout=20, interval=0.02, failure=lambda _: "no progress reported",
    )  # fmt: skip
    assert seen["stage"] == "download" and seen["total_bytes"] > seen["downloaded_bytes"] > 0
    assert 0 <= seen["percent"] < 100
    assert {"speed", "eta"} <= seen.keys()
    client.delete(f"/api/media/{body['id']}?force=true", headers=admin)


@pytest.mark.e2e
def test_progress_is_written_to_the_row_at_most_about_once_a_second(app, client, admin, media_server):
    """The row is updated throttled: fetching it from the database shows progress too, not every chunk."""
    from sqlalchemy import event

    media_server.trickle_delay = 0.02
    writes = []

    def count_progress_writes(conn, cursor, statement, params, context, executemany):
        if statement.startswith("UPDATE media SET progress"):
            writes.append(time.monotonic())  # when the job wrote progress to the row

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count_progress_writes)
    response = client.post("/api/media/queue", json={"url": media_server.url("/trickle/long.mp3")}, headers=admin)
    wait_for_entry(client, response.json["id"], admin)
    # Written, and never twice within the interval (the throttle's own guarantee, not a speed).
    assert writes
    assert all(later - earlier >= PROGRESS_WRITE_INTERVAL * 0.9 for earlier, later in itertools.pairwise(writes))


def test_pipeline_works_with_the_imageio_ffmpeg_binary_alone(tmp_path, monkeypatch, media_server):
    """No ffmpeg on PATH at all: the binary inside the imageio-ffmpeg package does everything."""
    import imageio_ffmpeg

    from mediacache import create_app
    from tests.helpers import ADMIN_PASSWORD, auth_header, login, make_settings

    monkeypatch.setenv("PATH", "/nonexistent")
    find_ffmpeg.cache_clear()
    try:
        assert find_ffmpeg(None) == imageio_ffmpeg.get_ffmpeg_exe()
        app = create_app(make_settings(tmp_path))
        client = app.test_client()
        headers = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
        body = queue_and_wait(client, headers, media_server.url("/media/tone.mp3"), profile="ogg-opus", completed=False)
        assert body["status"] == "completed", body["error"]
        app.extensions["mediacache.jobs"].shutdown()
    finally:
        find_ffmpeg.cache_clear()


def test_ffmpeg_is_taken_from_configuration_then_system_then_imageio(tmp_path, monkeypatch):
    import imageio_ffmpeg

    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    find_ffmpeg.cache_clear()
    try:
        monkeypatch.setenv("PATH", str(fake.parent))
        assert find_ffmpeg(None) == str(fake)
        assert find_ffmpeg(imageio_ffmpeg.get_ffmpeg_exe()) == imageio_ffmpeg.get_ffmpeg_exe()
        monkeypatch.setenv("PATH", "/nonexistent")
        find_ffmpeg.cache_clear()
        assert find_ffmpeg(None) == imageio_ffmpeg.get_ffmpeg_exe()
    finally:
        find_ffmpeg.cache_clear()
    assert subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-version"], capture_output=True).returncode == 0


def test_jobs_starting_together_share_the_ffmpeg_link_without_tripping(tmp_path):
    import shutil
    import threading

    from mediacache.sources.ffmpeg import ffmpeg_dir_for_ytdlp

    binary = tmp_path / "ffmpeg-linux-x86_64-v7"  # named like imageio-ffmpeg's, so a link is needed
    binary.write_bytes(b"")
    errors: list[OSError] = []

    def start_job(barrier):
        barrier.wait()
        try:
            ffmpeg_dir_for_ytdlp(str(binary), str(tmp_path))
        except OSError as exc:
            errors.append(exc)

    for _ in range(20):  # the race is narrow; a fresh folder each round gives it many chances
        shutil.rmtree(tmp_path / "bin", ignore_errors=True)
        barrier = threading.Barrier(8)
        threads = [threading.Thread(target=start_job, args=(barrier,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert (tmp_path / "bin" / "ffmpeg").resolve() == binary.resolve()
    assert [path.name for path in (tmp_path / "bin").iterdir()] == ["ffmpeg"]
