"""Loudness (issue 19): every audio entry is measured, normalize=true/<target> brings a file to a level.

Results are checked with an independent meter (pyloudnorm on the file decoded by ffmpeg), on
sources made by ffmpeg at about -6 and -30 LUFS, in every audio profile.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from mediacache.core.encoding import encode_args
from mediacache.core.loudness import MAX_TRUE_PEAK_DBTP, TRUE_PEAK_PENDING, GainPlan
from mediacache.core.profiles import PROFILES, Variant
from mediacache.sources.containers.gaintags import read_gain_tags
from tests.helpers import eventually, read_entry

from .helpers import queue_and_wait, wait_for_entry
from .loudness_tools import QUIET_GAIN_DB, TONES, integrated_lufs, make_source, true_peak_dbtp

OPUS = Variant(PROFILES["ogg-opus"], 128000, None)
AUDIO_PROFILES = ("mp3", "ogg-opus", "ogg-vorbis", "m4a-aac", "flac")
# Quiet tones with a click each second that reaches -1 dBFS: the gain to -16 LUFS would clip them.
CLICKS = f"{10 ** (QUIET_GAIN_DB / 20)}*({TONES})+0.9*lt(mod(t,1),0.0005)"


@pytest.fixture(scope="module")
def sources(media_folder):
    """The loud (-6 LUFS), quiet (-30 LUFS) and clicky sources, served by the loopback origin."""
    loud = make_source(media_folder / "loud.flac", TONES)
    quiet = make_source(media_folder / "quiet.flac", TONES, gain_db=QUIET_GAIN_DB)
    clicks = make_source(media_folder / "clicks.flac", CLICKS)
    return {"loud": loud, "quiet": quiet, "clicks": clicks}


def served_file(app, body) -> Path:
    """The file a completed entry serves, on disk."""
    return Path(app.config["STATIC_CACHE"]) / body["id"] / unquote(body["path"].rsplit("/", 1)[1])


def test_sources_are_as_loud_and_as_quiet_as_the_tests_say(sources):
    assert integrated_lufs(sources["loud"]) == pytest.approx(-6, abs=1)
    assert integrated_lufs(sources["quiet"]) == pytest.approx(-30, abs=1)


@pytest.mark.parametrize("profile", AUDIO_PROFILES)
@pytest.mark.parametrize("level", ["loud", "quiet"])
def test_normalize_true_brings_every_profile_to_the_default_target(
    app, client, admin, media_server, sources, profile, level
):
    body = queue_and_wait(client, admin, media_server.url(f"/media/{level}.flac"), profile=profile, normalize="true")
    path = served_file(app, body)
    assert integrated_lufs(path) == pytest.approx(-16, abs=1)
    assert true_peak_dbtp(path) <= MAX_TRUE_PEAK_DBTP
    loudness = body["metadata"]["loudness"]
    assert loudness["integrated_lufs"] == pytest.approx(-16, abs=1)
    assert loudness["normalized"]["target"] == -16
    assert loudness["normalized"]["limited"] is False
    source_lufs = -6 if level == "loud" else -30
    assert loudness["normalized"]["gain_db"] == pytest.approx(-16 - source_lufs, abs=1.5)
    assert body["normalize"] == -16


@pytest.mark.parametrize("profile", AUDIO_PROFILES)
def test_every_audio_entry_carries_its_measured_loudness(app, client, admin, media_server, sources, profile):
    body = queue_and_wait(client, admin, media_server.url("/media/quiet.flac"), profile=profile)
    ready = body["metadata"]["loudness"]
    if ready is None:
        # flac → flac is copied, not encoded: its measurement follows a moment after completion.
        assert profile == "flac"
    elif ready.get(TRUE_PEAK_PENDING):
        # An encode measures in its own pass but sample peaks only; the true peak follows from the finished file.
        assert ready["true_peak_dbtp"] is None and ready["integrated_lufs"] is not None
    body = eventually(lambda: measured_entry(client, body["id"], admin))
    loudness = body["metadata"]["loudness"]
    if ready is not None:
        assert loudness["integrated_lufs"] == ready["integrated_lufs"]  # the gain tags were written from it
    path = served_file(app, body)
    assert loudness["integrated_lufs"] == pytest.approx(integrated_lufs(path), abs=0.5)
    assert loudness["true_peak_dbtp"] == pytest.approx(true_peak_dbtp(path), abs=0.5)
    assert loudness["range_lu"] >= 0
    assert "normalized" not in loudness and TRUE_PEAK_PENDING not in loudness
    assert body["normalize"] is None


def measured_entry(client, media_id: str, headers) -> dict | None:
    """The entry once its loudness is measured in full (nothing pending), else None."""
    entry = read_entry(client, media_id, headers)
    loudness = entry["metadata"]["loudness"]
    return entry if loudness is not None and TRUE_PEAK_PENDING not in loudness else None


def test_a_plain_encode_reads_sample_peaks_in_its_pass_and_a_normalized_one_true_peaks():
    """The true peak's 4x oversampling costs an encode a third more time: only a normalized file's ceiling needs it."""
    plain = " ".join(encode_args(OPUS, has_audio=True, plan=None, measure=True))
    assert "ebur128=peak=sample" in plain and "peak=true" not in plain
    normalized = encode_args(OPUS, has_audio=True, plan=GainPlan(-16, 3.0, None), measure=True, true_peak=True)
    assert "ebur128=peak=true" in " ".join(normalized)


@pytest.mark.parametrize("profile", ["flac", "ogg-opus"])
def test_a_measurement_left_undone_by_a_stop_is_done_at_the_next_start(
    app, client, admin, media_server, sources, profile
):
    """A copy's loudness and a plain encode's true peak are measured in the background once the file is served;
    a stop drops that work, and the next start finds it again."""
    from mediacache.jobs.background import BackgroundLane, get_background_lane
    from mediacache.media.reconcile import recover_on_start

    get_background_lane(app).stop()  # stopped before the job ends: the measurement after it is dropped
    body = queue_and_wait(client, admin, media_server.url("/media/quiet.flac"), profile=profile)
    served = body["metadata"]["loudness"]
    if profile == "flac":
        assert served is None
    else:  # the encode's own pass measured it, sample peaks only
        assert served["integrated_lufs"] is not None and served["range_lu"] is not None
        assert served["true_peak_dbtp"] is None and served[TRUE_PEAK_PENDING] is True

    BackgroundLane(app)  # the next start's
    assert recover_on_start(app)["loudness_measuring"] == 1
    loudness = eventually(lambda: measured_entry(client, body["id"], admin))["metadata"]["loudness"]
    assert loudness["true_peak_dbtp"] == pytest.approx(true_peak_dbtp(served_file(app, body)), abs=0.5)
    if served is not None:
        assert loudness["integrated_lufs"] == served["integrated_lufs"]
    assert recover_on_start(app)["loudness_measuring"] == 0  # measured once, never again


def test_a_retained_file_served_again_gets_the_measurement_it_missed(app, client, admin, media_server, sources):
    """Deleted (kept privately) before its true peak was measured, then queued again: measured once it is back."""
    from mediacache.jobs.background import BackgroundLane, get_background_lane

    get_background_lane(app).stop()  # the measurement after the job is dropped, as if the file had gone first
    url = media_server.url("/media/quiet.flac")
    body = queue_and_wait(client, admin, url, profile="ogg-opus")
    assert body["metadata"]["loudness"][TRUE_PEAK_PENDING] is True
    assert client.delete(f"/api/media/{body['id']}", headers=admin).status_code == 204
    BackgroundLane(app)
    again = client.post("/api/media/queue", json={"url": url, "profile": "ogg-opus"}, headers=admin)
    assert again.status_code == 200 and again.json["restored"] is True, again.json
    loudness = eventually(lambda: measured_entry(client, body["id"], admin))["metadata"]["loudness"]
    assert loudness["true_peak_dbtp"] == pytest.approx(true_peak_dbtp(served_file(app, again.json)), abs=0.5)


def test_a_target_of_minus_14_is_reached(app, client, admin, media_server, sources):
    body = queue_and_wait(client, admin, media_server.url("/media/loud.flac"), profile="ogg-opus", normalize=-14)
    assert integrated_lufs(served_file(app, body)) == pytest.approx(-14, abs=1)
    assert body["metadata"]["loudness"]["normalized"]["target"] == -14


def test_normalize_limits_peaks_only_when_the_gain_would_clip_and_says_so(app, client, admin, media_server, sources):
    body = queue_and_wait(client, admin, media_server.url("/media/clicks.flac"), profile="mp3", normalize=True)
    path = served_file(app, body)
    assert body["metadata"]["loudness"]["normalized"]["limited"] is True, body["metadata"]["loudness"]
    assert integrated_lufs(path) == pytest.approx(-16, abs=1)
    assert true_peak_dbtp(path) <= MAX_TRUE_PEAK_DBTP


@pytest.mark.parametrize(
    ("profile", "tag", "reference"),
    [("ogg-opus", "R128_TRACK_GAIN", -23), ("mp3", "REPLAYGAIN_TRACK_GAIN", -18),
     ("m4a-aac", "REPLAYGAIN_TRACK_GAIN", -18), ("flac", "REPLAYGAIN_TRACK_GAIN", -18),
     ("ogg-vorbis", "REPLAYGAIN_TRACK_GAIN", -18)],
)  # fmt: skip
def test_files_carry_gain_tags_for_players(app, client, admin, media_server, sources, profile, tag, reference):
    body = queue_and_wait(client, admin, media_server.url("/media/loud.flac"), profile=profile, normalize="-20")
    path = served_file(app, body)
    tags = read_gain_tags(path)
    measured = integrated_lufs(path)
    if tag == "R128_TRACK_GAIN":
        assert int(tags[tag]) / 256 == pytest.approx(reference - measured, abs=0.5)  # Q7.8 fixed point
    else:
        assert float(tags[tag].removesuffix(" dB")) == pytest.approx(reference - measured, abs=0.5)
        assert 0 < float(tags["REPLAYGAIN_TRACK_PEAK"]) <= 10 ** (MAX_TRUE_PEAK_DBTP / 20)


def test_the_normalized_and_the_plain_file_of_one_url_are_two_entries(client, admin, media_server, sources):
    url = media_server.url("/media/loud.flac")
    plain = client.post("/api/media/queue", json={"url": url, "profile": "ogg-opus"}, headers=admin)
    normalized = client.post("/api/media/queue", json={"url": url, "profile": "ogg-opus", "normalize": "yes"},
                             headers=admin)  # fmt: skip
    # true means the default target: the same variant as asking for -16 by number.
    same = client.post("/api/media/queue", json={"url": url, "profile": "ogg-opus", "normalize": -16}, headers=admin)
    other = client.post("/api/media/queue", json={"url": url, "profile": "ogg-opus", "normalize": -14.0},
                        headers=admin)  # fmt: skip
    off = client.post("/api/media/queue", json={"url": url, "profile": "ogg-opus", "normalize": "false"},
                      headers=admin)  # fmt: skip
    assert (plain.status_code, normalized.status_code, other.status_code) == (201, 201, 201)
    assert len({plain.json["id"], normalized.json["id"], other.json["id"]}) == 3
    assert same.status_code == 409 and same.json["id"] == normalized.json["id"]
    assert off.status_code == 409 and off.json["id"] == plain.json["id"]
    for body in (plain.json, normalized.json, other.json):
        wait_for_entry(client, body["id"], admin)


@pytest.mark.parametrize("value", ["loud", "-31", "-4.9", "0.5", "nan", "-inf", "1e1", "[]"])
def test_invalid_normalize_values_are_400_invalid_normalize(client, admin, media_server, value):
    response = client.post(
        "/api/media/queue", query_string={"url": media_server.url("/media/tone.mp3"), "normalize": value}, headers=admin
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "INVALID_NORMALIZE"
    assert "LUFS" in response.json["error"]["message"]


def test_normalize_as_a_json_object_is_400_not_500(client, admin, media_server):
    response = client.post(
        "/api/media/queue", json={"url": media_server.url("/media/tone.mp3"), "normalize": {"a": 1}}, headers=admin
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "INVALID_NORMALIZE"


def test_the_default_target_is_a_setting(configured, media_server, sources):
    app, client, admin = configured(LOUDNESS_TARGET=-20)
    body = queue_and_wait(client, admin, media_server.url("/media/loud.flac"), profile="flac", normalize=True)
    assert integrated_lufs(served_file(app, body)) == pytest.approx(-20, abs=1)
    assert body["normalize"] == -20


def test_a_video_can_be_normalized_too(app, client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/clip.mp4"), profile="mp4-h264", resolution="240p",
                          normalize=True)  # fmt: skip
    assert integrated_lufs(served_file(app, body)) == pytest.approx(-16, abs=1)
    assert body["metadata"]["loudness"]["normalized"]["target"] == -16
