"""POST /api/media/queue and the entry routes, as API.md "Media cache" describes them."""

from __future__ import annotations

import threading

import pytest

from mediacache import create_app
from tests.helpers import ADMIN_PASSWORD, auth_header, login, make_settings, queue_and_wait, wait_for_entry


def queue(client, headers, **params):
    """POST /api/media/queue with JSON parameters."""
    return client.post("/api/media/queue", json=params, headers=headers)


def test_queue_needs_a_token(client, media_server):
    assert client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}).status_code == 401


def test_new_entry_is_201_with_location_and_starts_at_once(client, admin, media_server):
    response = queue(client, admin, url=media_server.url("/media/tone.mp3"), ttl=120)
    assert response.status_code == 201
    assert response.headers["Location"] == f"/api/media/{response.json['id']}"
    body = response.json
    assert body["status"] in ("pending", "downloading", "processing", "completed")
    assert body["profile"] == "mp3" and body["bitrate"] == 192000 and body["ttl"] == 120
    assert body["requested_by"] == "admin"
    assert body["valid"] or body["endpoints"] == []
    assert wait_for_entry(client, body["id"], admin, timeout=30)["status"] == "completed"


def test_completed_entry_has_path_endpoints_and_expiry(client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), ttl=600)
    assert body["endpoints"] == ["http://localhost" + body["path"]]
    assert body["expires_at"].endswith("Z") and body["completed_at"].endswith("Z")
    assert body["progress"] is None and body["error"] is None


def test_public_url_and_external_endpoints_build_the_endpoints(tmp_path, media_server):
    app = create_app(make_settings(
        tmp_path, PUBLIC_URL="https://media.example.org/", EXTERNAL_ENDPOINTS="https://cdn.example.net"
    ))  # fmt: skip
    client = app.test_client()
    headers = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
    body = queue_and_wait(client, headers, media_server.url("/media/tone.mp3"))
    # The CDN root maps onto static_cache/ itself and is listed first (what players are handed).
    in_cache = body["path"].removeprefix("/cache")
    assert body["endpoints"] == ["https://cdn.example.net" + in_cache, "https://media.example.org" + body["path"]]


def test_same_url_again_returns_409_with_the_existing_entry_at_top_level(client, admin, media_server):
    first = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"))
    again = queue(client, admin, url=media_server.url("/media/tone.mp3") + "#fragment")
    assert again.status_code == 409
    assert again.json["id"] == first["id"] and again.json["status"] == "completed"
    assert again.json["error"]["code"] == "ALREADY_CACHED"


def test_same_url_while_running_is_409_already_queued(client, admin, media_server):
    url = media_server.url("/trickle/long.mp3")
    first = queue(client, admin, url=url)
    again = queue(client, admin, url=url)
    assert again.status_code == 409 and again.json["error"]["code"] == "ALREADY_QUEUED"
    assert again.json["id"] == first.json["id"]
    client.delete(f"/api/media/{first.json['id']}?force=true", headers=admin)


def test_other_profile_or_bitrate_is_another_entry(client, admin, media_server):
    url = media_server.url("/media/tone.mp3")
    ids = {
        queue(client, admin, url=url, **params).json["id"]
        for params in (
            {},
            {"profile": "mp3", "bitrate": "128k"},
            {"profile": "ogg-opus"},
            {"profile": "mp3", "bitrate": 192000},
        )
    }
    assert len(ids) == 3  # mp3 at the default 192k is the same entry as no profile at all


@pytest.mark.e2e
def test_twelve_concurrent_identical_queue_calls_make_one_entry_and_one_download(app, admin, media_server):
    # yt-dlp's extraction sniffs a URL before downloading it, so measure what one job costs first.
    baseline = app.test_client().post(
        "/api/media/queue", json={"url": media_server.url("/media/other.mp3")}, headers=admin
    )
    wait_for_entry(app.test_client(), baseline.json["id"], admin)
    requests_per_job = media_server.downloads("/media/other.mp3")
    url = media_server.url("/media/tone.mp3")
    barrier = threading.Barrier(12)
    answers = []

    def call():
        client = app.test_client()
        barrier.wait()
        answers.append(client.post("/api/media/queue", json={"url": url, "profile": "ogg-opus"}, headers=admin))

    threads = [threading.Thread(target=call) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * 11
    assert len({answer.json["id"] for answer in answers}) == 1
    wait_for_entry(app.test_client(), answers[0].json["id"], admin)
    assert media_server.downloads("/media/tone.mp3") == requests_per_job


@pytest.mark.parametrize(
    "params, code",
    [
        ({}, "INVALID_URL"),
        ({"url": ""}, "INVALID_URL"),
        ({"url": "not a url"}, "INVALID_URL"),
        ({"url": "ftp://example.org/a.mp3"}, "UNSUPPORTED_SCHEME"),
        ({"url": "file:///etc/passwd"}, "UNSUPPORTED_SCHEME"),
        ({"url": "ytsearch:never gonna"}, "UNSUPPORTED_SCHEME"),
        ({"url": "https://example.org/a.mp3", "profile": "ogg"}, "INVALID_PROFILE"),
        ({"url": "https://example.org/a.mp3", "profile": "mp3", "bitrate": "999k"}, "INVALID_BITRATE"),
        ({"url": "https://example.org/a.mp3", "profile": "mp3", "bitrate": "lots"}, "INVALID_BITRATE"),
        ({"url": "https://example.org/a.mp3", "profile": "flac", "bitrate": "192k"}, "INVALID_BITRATE"),
        ({"url": "https://example.org/a.mp3", "bitrate": "192k"}, "BITRATE_REQUIRES_PROFILE"),
        ({"url": "https://example.org/a.mp3", "profile": "mp4-h264", "resolution": "4k"}, "INVALID_RESOLUTION"),
        ({"url": "https://example.org/a.mp3", "profile": "mp3", "resolution": "720p"}, "INVALID_RESOLUTION"),
        ({"url": "https://example.org/a.mp3", "ttl": 0}, "INVALID_TTL"),
        ({"url": "https://example.org/a.mp3", "ttl": 10**9}, "INVALID_TTL"),
        ({"url": "https://example.org/a.mp3", "ttl": "soon"}, "INVALID_TTL"),
        ({"url": "https://example.org/a.mp3", "extra": "{not json"}, "INVALID_EXTRA"),
        ({"url": "https://example.org/a.mp3", "extra": "[1]"}, "INVALID_EXTRA"),
        ({"url": "https://example.org/a.mp3", "extra": {"note": "x" * 5000}}, "INVALID_EXTRA"),
        ({"url": "https://www.youtube.com/playlist?list=PL123"}, "PLAYLIST_NOT_SUPPORTED"),
        ({"url": "https://artist.bandcamp.com/album/some-album"}, "PLAYLIST_NOT_SUPPORTED"),
        ({"url": "https://soundcloud.com/artist/sets/a-set"}, "PLAYLIST_NOT_SUPPORTED"),
    ],
)
def test_bad_queue_parameters_get_400_with_a_specific_code(client, admin, params, code):
    response = queue(client, admin, **params)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]


def test_bitrate_error_message_gives_the_range(client, admin):
    response = queue(client, admin, url="https://example.org/a.mp3", profile="ogg-opus", bitrate=1)
    assert "6k–510k" in response.json["error"]["message"]


def test_playlist_refusal_points_to_the_lookup_route(client, admin):
    response = queue(client, admin, url="https://www.youtube.com/playlist?list=PL123")
    assert "/api/ytdlp" in response.json["error"]["message"]


def test_private_targets_are_refused_by_default(configured):
    _app, client, headers = configured(ALLOW_PRIVATE_URLS=False)
    for url in ("http://127.0.0.1/a.mp3", "http://localhost/a.mp3", "http://10.0.0.8/a.mp3", "http://[::1]/a.mp3"):
        response = queue(client, headers, url=url)
        assert response.status_code == 403 and response.json["error"]["code"] == "URL_NOT_ALLOWED", url


def test_form_and_query_parameters_and_extra_as_a_string(client, admin, media_server):
    url = media_server.url("/media/tone.mp3")
    response = client.post(
        "/api/media/queue?profile=ogg-opus", data={"url": url, "extra": '{"ckey": "player1"}'}, headers=admin
    )
    assert response.status_code == 201 and response.json["profile"] == "ogg-opus"


def test_soft_delete_then_queue_again_restores_without_download(app, client, admin, media_server):
    url = media_server.url("/media/tone.mp3")
    body = queue_and_wait(client, admin, url)
    requests_before = media_server.downloads("/media/tone.mp3")
    file_url = body["path"]
    assert client.delete(f"/api/media/{body['id']}", headers=admin).status_code == 204
    deleted = client.get(f"/api/media/{body['id']}", headers=admin).json
    assert (deleted["cache_state"], deleted["valid"], deleted["path"], deleted["endpoints"]) == (
        "deleted",
        False,
        None,
        [],
    )
    assert deleted["retained_until"] and deleted["deleted_at"]
    assert client.get(file_url).status_code == 404
    restored = queue(client, admin, url=url, ttl=900)
    assert restored.status_code == 200 and restored.json["restored"] is True
    assert restored.json["id"] == body["id"] and restored.json["valid"] and restored.json["ttl"] == 900
    assert client.get(file_url).status_code == 200
    assert media_server.downloads("/media/tone.mp3") == requests_before


@pytest.mark.e2e
def test_hard_delete_then_queue_again_downloads_again_with_202(client, admin, media_server):
    url = media_server.url("/media/tone.mp3")
    body = queue_and_wait(client, admin, url)
    requests_per_job = media_server.downloads("/media/tone.mp3")
    assert client.delete(f"/api/media/{body['id']}?hard=true", headers=admin).status_code == 204
    assert client.get(f"/api/media/{body['id']}", headers=admin).json["cache_state"] == "purged"
    again = queue(client, admin, url=url)
    assert again.status_code == 202 and again.json["id"] == body["id"]
    assert wait_for_entry(client, body["id"], admin)["status"] == "completed"
    assert media_server.downloads("/media/tone.mp3") == 2 * requests_per_job


def test_failed_entry_is_queued_again_with_202(client, admin, media_server):
    url = media_server.url("/status/404")
    failed = wait_for_entry(client, queue(client, admin, url=url).json["id"], admin)
    assert failed["status"] == "failed"
    again = queue(client, admin, url=url)
    assert again.status_code == 202 and again.json["id"] == failed["id"] and again.json["error"] is None


@pytest.mark.e2e
def test_retry_requeues_a_failed_entry_and_refuses_a_completed_one(client, admin, media_server):
    failed = wait_for_entry(client, queue(client, admin, url=media_server.url("/status/500")).json["id"], admin)
    assert client.post(f"/api/media/{failed['id']}/retry", headers=admin).status_code == 202
    done = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"))
    response = client.post(f"/api/media/{done['id']}/retry", headers=admin)
    assert response.status_code == 409 and response.json["error"]["code"] == "NOT_RETRYABLE"


@pytest.mark.e2e
def test_delete_of_a_running_job_needs_force_which_cancels_it(app, client, admin, media_server):
    media_server.trickle_delay = 0.2
    media_id = queue(client, admin, url=media_server.url("/trickle/long.mp3")).json["id"]
    wait_for_entry(client, media_id, admin, until=("downloading",))
    refused = client.delete(f"/api/media/{media_id}", headers=admin)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "JOB_RUNNING"
    assert client.delete(f"/api/media/{media_id}?force=true", headers=admin).status_code == 204
    assert app.extensions["mediacache.jobs"].wait_idle(20)
    cancelled = client.get(f"/api/media/{media_id}", headers=admin).json
    assert cancelled["status"] == "failed" and cancelled["error"]["code"] == "CANCELLED"
    from pathlib import Path

    assert not list((Path(app.config["STATIC_CACHE"]) / ".tmp").glob(f"{media_id}*"))


def test_users_may_delete_only_their_own_entries(client, admin, user, media_server):
    mine = queue_and_wait(client, user, media_server.url("/media/tone.mp3"))
    theirs = queue_and_wait(client, admin, media_server.url("/media/other.mp3"))
    forbidden = client.delete(f"/api/media/{theirs['id']}", headers=user)
    assert forbidden.status_code == 403 and forbidden.json["error"]["code"] == "FORBIDDEN"
    assert client.delete(f"/api/media/{mine['id']}", headers=user).status_code == 204
    assert client.delete(f"/api/media/{theirs['id']}", headers=admin).status_code == 204


@pytest.mark.e2e
def test_users_may_retry_only_their_own_entries_like_delete(client, admin, user, media_server):
    """Retry follows delete's rule: whoever requested the entry, or an admin; reading stays open to all."""
    client.post("/api/users", json={"username": "alice", "password": "alice-pass-1"}, headers=admin)
    alice = auth_header(login(client, "alice", "alice-pass-1")["token"])
    hers = wait_for_entry(client, queue(client, alice, url=media_server.url("/status/500")).json["id"], alice)
    assert hers["status"] == "failed"
    forbidden = client.post(f"/api/media/{hers['id']}/retry", headers=user)
    assert forbidden.status_code == 403 and forbidden.json["error"]["code"] == "FORBIDDEN"
    assert client.get(f"/api/media/{hers['id']}", headers=user).json["status"] == "failed"  # read, not re-run
    assert client.post(f"/api/media/{hers['id']}/retry", headers=alice).status_code == 202
    wait_for_entry(client, hers["id"], alice)
    assert client.post(f"/api/media/{hers['id']}/retry", headers=admin).status_code == 202


def test_unknown_entry_is_404(client, admin):
    for path in ("/api/media/00000000-0000-0000-0000-000000000000", "/api/media/nope", "/api/media/nope/download"):
        response = client.get(path, headers=admin)
        assert response.status_code == 404 and response.json["error"]["code"] == "NOT_FOUND"


def test_list_filters_sorts_and_paginates(client, admin, user, media_server):
    done = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"))
    failed = wait_for_entry(client, queue(client, user, url=media_server.url("/status/404")).json["id"], user)
    page = client.get("/api/media", headers=admin).json
    assert page["pagination"]["total"] == 2 and page["items"][0]["id"] == failed["id"]  # newest first
    assert [i["id"] for i in client.get("/api/media/?sort=created_at", headers=admin).json["items"]] == [
        done["id"], failed["id"]]  # fmt: skip
    assert [i["id"] for i in client.get("/api/media?valid=true", headers=admin).json["items"]] == [done["id"]]
    assert [i["id"] for i in client.get("/api/media?status=failed", headers=admin).json["items"]] == [failed["id"]]
    assert [i["id"] for i in client.get("/api/media?requested_by=player", headers=admin).json["items"]] == [
        failed["id"]]  # fmt: skip
    assert [i["id"] for i in client.get("/api/media?q=sine", headers=admin).json["items"]] == [done["id"]]
    assert client.get("/api/media?limit=1&page=2", headers=admin).json["pagination"]["has_prev"] is True
    assert client.get("/api/media?status=bogus", headers=admin).status_code == 400


def test_download_is_an_attachment_named_artist_title(client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), profile="ogg-opus")
    response = client.get(f"/api/media/{body['id']}/download", headers=admin)
    assert response.status_code == 200 and response.mimetype == "audio/ogg"
    assert response.headers["Content-Disposition"] == 'attachment; filename="Test Artist - Sine Song.ogg"'


def test_service_index_lists_profiles_limits_and_cache_stats(client, admin, media_server):
    queue_and_wait(client, admin, media_server.url("/media/tone.mp3"))
    body = client.get("/api").json
    assert body["status"] == "OK" and body["version"]
    assert list(body["media_profiles"]) == ["mp3", "ogg-opus", "ogg-vorbis", "m4a-aac", "flac", "mp4-h264", "webm-vp9"]
    opus = body["media_profiles"]["ogg-opus"]
    assert opus["bitrate"] == {"min": 6000, "max": 510000, "default": 128000}
    assert body["cache_stats"]["live"] == 1 and body["cache_stats"]["bytes_live"] > 0
    assert body["cache_endpoints"] == ["http://localhost/cache/"]
    assert body["limits"]["max_ttl"] == 30 * 86400


def test_rendered_media_object_matches_its_documented_schema(client, admin, media_server):
    from mediacache.web.schemas.media import MediaSchema

    body = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=admin).json
    assert set(body) == set(MediaSchema().fields)
    done = wait_for_entry(client, body["id"], admin)
    assert set(done) == set(MediaSchema().fields)


def test_a_poll_sees_a_change_made_in_this_process_at_once(app, client, admin, media_server):
    """Entry snapshots are cached between polls; a write must never leave a poll stale."""
    body = wait_for_entry(client, queue(client, admin, url=media_server.url("/media/tone.mp3")).json["id"], admin)
    assert client.get(f"/api/media/{body['id']}", headers=admin).json["valid"] is True
    client.delete(f"/api/media/{body['id']}", headers=admin)
    assert client.get(f"/api/media/{body['id']}", headers=admin).json["cache_state"] == "deleted"


@pytest.mark.parametrize(
    "bitrate", ["١٢٨k", "١٢٨٠٠٠", "128.٥k", "１２８k"], ids=["arabic-k", "arabic", "mixed", "fullwidth"]
)
def test_a_bitrate_in_non_ascii_digits_is_invalid(client, admin, bitrate):
    body = {"url": "https://example.org/a.mp3", "profile": "mp3", "bitrate": bitrate}
    for response in (
        client.post("/api/media/queue", json=body, headers=admin),
        client.post("/api/media/queue", data=body, headers=admin),
    ):
        assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_BITRATE"


@pytest.mark.parametrize(
    "bitrate, echoed",
    [
        ("1000000000000000k", "'1000000000000000k'"),
        (128.5, "128.5"),
        (True, "true"),
        ("9" * 500, "'" + "9" * 64 + "'…"),
    ],
)
def test_a_bitrate_error_repeats_the_value_as_sent(client, admin, bitrate, echoed):
    body = {"url": "https://example.org/a.mp3", "profile": "mp3", "bitrate": bitrate}
    response = client.post("/api/media/queue", json=body, headers=admin)
    assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_BITRATE"
    assert response.json["error"]["message"].startswith(f"Bitrate {echoed} ")


@pytest.mark.parametrize("number", ["١", "+2", " 2", "2 ", "2_0", "0x2", "2.0"])
@pytest.mark.parametrize(
    "path, name",
    [("/api/users", "page"), ("/api/media", "limit"), ("/api/stats/daily", "days"), ("/api/events", "last_event_id")],
)
def test_a_number_written_other_than_in_ascii_digits_is_refused(client, admin, path, name, number):
    response = client.get(path, query_string={name: number}, headers=admin)
    assert response.status_code == 400 and response.json["error"]["code"] == "VALIDATION_ERROR", response.json
    assert client.get(path, query_string={name: "2"}, headers=admin, buffered=path != "/api/events").status_code == 200


def test_an_error_does_not_echo_a_long_reference_back_whole(client, admin):
    response = client.get("/api/ytdlp/" + "x" * 5000, headers=admin)
    assert 400 <= response.status_code < 500
    assert "x" * 65 not in response.get_data(as_text=True) and len(response.json["error"]["message"]) < 300
