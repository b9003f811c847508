"""Clips (issue 19): start/end cut the output to the sample; the clip is its own entry; bad ranges are 400."""

from __future__ import annotations

import pytest

from .helpers import queue_and_wait, wait_for_entry
from .loudness_tools import frames, integrated_lufs
from .test_loudness import AUDIO_PROFILES, served_file

# A few milliseconds: what encoders' frame padding may leave when a decoder does not trim it.
LENGTH_TOLERANCE_S = 0.005


@pytest.mark.parametrize("profile", AUDIO_PROFILES)
def test_a_clip_is_cut_to_the_sample_in_every_audio_profile(app, client, admin, media_server, profile):
    body = queue_and_wait(client, admin, media_server.url("/media/long.mp3"), profile=profile, start="2.5", end=7.25)
    count, rate = frames(served_file(app, body))
    assert count / rate == pytest.approx(4.75, abs=LENGTH_TOLERANCE_S)
    assert body["length_ms"] == pytest.approx(4750, abs=LENGTH_TOLERANCE_S * 1000)
    assert (body["start"], body["end"]) == (2.5, 7.25)


def test_start_alone_keeps_the_rest_of_the_source(app, client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), profile="flac", start=1)
    count, rate = frames(served_file(app, body))
    assert count / rate == pytest.approx(2.0, abs=0.03)  # the 3 s tone, less its first second
    assert body["end"] is None


def test_end_alone_keeps_the_beginning(app, client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/long.mp3"), profile="ogg-vorbis", end="1.5")
    count, rate = frames(served_file(app, body))
    assert count / rate == pytest.approx(1.5, abs=LENGTH_TOLERANCE_S)


def test_a_clip_can_be_normalized_and_is_measured_as_the_clip(app, client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/long.mp3"), profile="mp3", start=10, end=16,
                          normalize=-18)  # fmt: skip
    path = served_file(app, body)
    assert integrated_lufs(path) == pytest.approx(-18, abs=1)
    assert body["length_ms"] == pytest.approx(6000, abs=30)


def test_a_clip_of_a_video_cuts_picture_and_sound(client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/clip.mp4"), profile="mp4-h264", resolution="240p",
                          start=0.5, end=1.5)  # fmt: skip
    assert body["length_ms"] == pytest.approx(1000, abs=80)


def test_clips_are_entries_of_their_own(client, admin, media_server):
    url = media_server.url("/media/long.mp3")
    whole = client.post("/api/media/queue", json={"url": url, "profile": "ogg-opus"}, headers=admin)
    clip = client.post("/api/media/queue", json={"url": url, "profile": "ogg-opus", "start": 1, "end": 2},
                       headers=admin)  # fmt: skip
    # 1.000 s is 1 s, and start=0 is no cut at all.
    same_clip = client.post("/api/media/queue", query_string={"url": url, "profile": "ogg-opus", "start": "1.000",
                                                              "end": "2"}, headers=admin)  # fmt: skip
    same_whole = client.post("/api/media/queue", json={"url": url, "profile": "ogg-opus", "start": 0}, headers=admin)
    assert (whole.status_code, clip.status_code) == (201, 201)
    assert whole.json["id"] != clip.json["id"]
    assert same_clip.status_code == 409 and same_clip.json["id"] == clip.json["id"]
    assert same_whole.status_code == 409 and same_whole.json["id"] == whole.json["id"]
    for body in (whole.json, clip.json):
        wait_for_entry(client, body["id"], admin)


@pytest.mark.parametrize(
    "params",
    [{"start": -1}, {"start": "abc"}, {"end": "-0.5"}, {"start": 5, "end": 5}, {"start": 5, "end": 2},
     {"end": 0}, {"start": "nan"}, {"start": "1e3"}, {"end": 10**8}, {"start": True}, {"start": [1]}],
)  # fmt: skip
def test_invalid_ranges_are_400_invalid_clip(client, admin, media_server, params):
    response = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3"), **params},
                           headers=admin)  # fmt: skip
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "INVALID_CLIP"
    assert "start" in response.json["error"]["message"] or "end" in response.json["error"]["message"]


def test_a_clip_starting_past_the_end_of_the_source_fails_its_job_with_a_clear_code(client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), profile="mp3", start=60,
                          completed=False)  # fmt: skip
    assert body["status"] == "failed"
    assert body["error"]["code"] == "CLIP_OUT_OF_RANGE"
    assert "3.0" in body["error"]["message"]  # the source's real length


def test_an_end_past_the_source_keeps_what_there_is(client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), profile="mp3", start=2, end=60)
    assert body["length_ms"] == pytest.approx(1000, abs=60)
