"""What the game server's client and the original service's own requests rely on at the edges (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediacache import create_app
from mediacache.config.loading import ConfigError
from tests.helpers import (
    LiveServer,
    eventually,
    finished_entry,
    flask_dispatches,
    make_settings,
    queue_and_wait,
    wait_for_entry,
)


def cancelled_entry(app, client, headers, media_server) -> str:
    """An entry whose running job was cancelled by a forced delete."""
    media_server.trickle_delay = 0.1
    media_id = client.post("/api/media/queue", json={"url": media_server.url("/trickle/long.mp3")},
                           headers=headers).json["id"]  # fmt: skip
    wait_for_entry(client, media_id, headers, until=("downloading",))
    assert client.delete(f"/api/media/{media_id}?force=true", headers=headers).status_code == 204
    assert app.extensions["mediacache.jobs"].wait_idle(20)
    return media_id


def test_a_cancelled_job_is_failed_with_code_cancelled_wherever_the_api_shows_it(app, client, admin, media_server):
    media_id = cancelled_entry(app, client, admin, media_server)
    polled = client.get(f"/api/media/{media_id}", headers=admin).json
    # The client loops until completed or failed: it must see one of them.
    assert polled["status"] == "failed" and polled["error"]["code"] == "CANCELLED" and polled["error"]["message"]
    for listing in ("/api/media", "/api/media?status=failed", "/api/media?status=cancelled", "/api/admin/jobs/dlq"):
        items = client.get(listing, headers=admin).json["items"]
        assert [(i["id"], i["status"], i["error"]["code"]) for i in items] == [(media_id, "failed", "CANCELLED")]
    assert client.get("/api/media?status=completed", headers=admin).json["items"] == []
    assert client.get("/api/stats", headers=admin).json["by_status"] == {"failed": 1}


def test_a_cancelled_job_can_still_be_retried(app, client, admin, media_server):
    media_id = cancelled_entry(app, client, admin, media_server)
    retried = client.post(f"/api/media/{media_id}/retry", headers=admin)
    assert retried.status_code == 202 and retried.json["error"] is None
    assert retried.json["status"] in ("pending", "downloading", "processing", "completed")


def test_the_originals_delete_request_hard_entry_force_removes_the_file_and_the_entry(app, client, admin, media_server):
    url = media_server.url("/media/tone.mp3")
    body = queue_and_wait(client, admin, url)
    response = client.delete(f"/api/media/{body['id']}?hard=entry&force=true", headers=admin)
    assert response.status_code == 204
    assert client.get(f"/api/media/{body['id']}", headers=admin).status_code == 404
    assert client.get(body["path"]).status_code == 404
    assert not (Path(app.config["STATIC_CACHE"]) / body["id"]).exists()
    assert not (Path(app.config["PRIVATE_CACHE"]) / body["id"]).exists()
    assert client.get("/api/media", headers=admin).json["items"] == []
    # The URL can be queued afresh: a new entry, not a restore.
    again = client.post("/api/media/queue", json={"url": url}, headers=admin)
    assert again.status_code == 201 and again.json["id"] != body["id"]


def test_hard_entry_with_force_removes_an_entry_whose_job_is_running(app, client, admin, media_server):
    media_server.trickle_delay = 0.1
    media_id = client.post("/api/media/queue", json={"url": media_server.url("/trickle/long.mp3")},
                           headers=admin).json["id"]  # fmt: skip
    wait_for_entry(client, media_id, admin, until=("downloading",))
    refused = client.delete(f"/api/media/{media_id}?hard=entry", headers=admin)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "JOB_RUNNING"
    assert client.delete(f"/api/media/{media_id}?hard=entry&force=true", headers=admin).status_code == 204
    assert app.extensions["mediacache.jobs"].wait_idle(20)
    assert client.get(f"/api/media/{media_id}", headers=admin).status_code == 404
    assert not (Path(app.config["STATIC_CACHE"]) / media_id).exists()
    assert not (Path(app.config["STATIC_CACHE"]) / ".tmp" / media_id).exists()


def test_hard_file_removes_the_file_at_once_and_keeps_the_entry(app, client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"))
    assert client.delete(f"/api/media/{body['id']}", query_string={"hard": "file"}, headers=admin).status_code == 204
    kept = client.get(f"/api/media/{body['id']}", headers=admin).json
    assert kept["cache_state"] == "purged" and kept["valid"] is False and kept["endpoints"] == []
    assert client.get(body["path"]).status_code == 404
    assert not (Path(app.config["STATIC_CACHE"]) / body["id"]).exists()
    assert not (Path(app.config["PRIVATE_CACHE"]) / body["id"]).exists()


def test_hard_entry_after_a_soft_delete_removes_the_retained_file_too(app, client, admin):
    media_id = finished_entry(app)
    assert client.delete(f"/api/media/{media_id}", headers=admin).status_code == 204
    assert (Path(app.config["PRIVATE_CACHE"]) / media_id).exists()
    assert client.delete(f"/api/media/{media_id}?hard=entry", headers=admin).status_code == 204
    assert not (Path(app.config["PRIVATE_CACHE"]) / media_id).exists()
    assert client.get(f"/api/media/{media_id}", headers=admin).status_code == 404


def test_hard_accepts_the_originals_words_in_a_json_body_too(client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"))
    response = client.delete(f"/api/media/{body['id']}", json={"hard": "ENTRY", "force": True}, headers=admin)
    assert response.status_code == 204
    assert client.get(f"/api/media/{body['id']}", headers=admin).status_code == 404


def test_an_unknown_hard_value_is_a_400_naming_the_accepted_ones(client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"))
    response = client.delete(f"/api/media/{body['id']}?hard=row", headers=admin)
    assert response.status_code == 400 and response.json["error"]["code"] == "VALIDATION_ERROR"
    assert "file" in response.json["error"]["message"] and "entry" in response.json["error"]["message"]
    assert client.get(f"/api/media/{body['id']}", headers=admin).json["valid"] is True


# --- where players are sent (endpoints) ---------------------------------------------------------


def test_external_endpoints_map_onto_the_cache_folder_with_one_slash_and_come_first(configured):
    app, client, admin = configured(
        PUBLIC_URL="https://media.example.org/",
        EXTERNAL_ENDPOINTS="https://cdn.example.org/cache, https://mirror.example.net//",
    )
    media_id = finished_entry(app)
    body = client.get(f"/api/media/{media_id}", headers=admin).json
    file_part = f"{media_id}/Artist%20-%20Song.mp3"
    assert body["path"] == f"/cache/{file_part}"
    assert body["endpoints"] == [
        f"https://cdn.example.org/cache/{file_part}",  # not …/cache/cache/…
        f"https://mirror.example.net/{file_part}",
        f"https://media.example.org/cache/{file_part}",
    ]
    assert client.get("/api").json["cache_endpoints"] == [
        "https://cdn.example.org/cache/", "https://mirror.example.net/", "https://media.example.org/cache/"
    ]  # fmt: skip
    listed = client.get("/api/media", headers=admin).json["items"][0]
    assert listed["endpoints"] == body["endpoints"]


def test_health_shows_endpoints_built_from_the_request_host_as_degraded(configured):
    _, client, _ = configured()
    response = client.get("/api/health")
    assert response.status_code == 200 and response.json["status"] == "degraded"
    deployment = response.json["checks"]["deployment"]
    assert deployment["status"] == "degraded" and deployment["endpoints_from"] == "request_host"
    assert "MEDIACACHE_PUBLIC_URL" in deployment["note"]


def test_health_deployment_check_is_healthy_with_a_public_url(configured):
    _, client, _ = configured(PUBLIC_URL="https://media.example.org")
    deployment = client.get("/api/health").json["checks"]["deployment"]
    assert deployment == {"status": "healthy", "endpoints_from": "public_url"}


@pytest.mark.e2e
def test_the_server_warns_at_start_when_endpoints_would_come_from_the_request_host(tmp_path):
    for name in ("guessing", "configured"):
        (tmp_path / name).mkdir()
    server = LiveServer(tmp_path / "guessing").start()
    try:
        server.wait_for_log("MEDIACACHE_PUBLIC_URL is not set")
    finally:
        server.stop()
    server = LiveServer(tmp_path / "configured", MEDIACACHE_PUBLIC_URL="https://media.example.org").start()
    try:
        assert server("GET", "/api/health")[0] == 200
        # The warning would be logged before serving began, so before this request's own line.
        log = server.wait_for_log("/api/health")
        assert "MEDIACACHE_PUBLIC_URL is not set" not in log
    finally:
        server.stop()


# --- GET /api and CORS --------------------------------------------------------------------------


def test_service_index_keys_media_profiles_by_name(client):
    from mediacache.web.schemas.service import MediaProfile, ServiceInfo

    body = client.get("/api").json
    assert set(body) == set(ServiceInfo().fields)
    profiles = body["media_profiles"]
    assert list(profiles) == ["mp3", "ogg-opus", "ogg-vorbis", "m4a-aac", "flac", "mp4-h264", "webm-vp9"]
    for name, profile in profiles.items():
        assert profile["name"] == name and set(profile) == set(MediaProfile().fields)
    assert profiles["ogg-opus"]["bitrate"] == {"min": 6000, "max": 510000, "default": 128000}
    assert profiles["mp4-h264"]["default_resolution"] == "720p" and profiles["flac"]["bitrate"] is None


def test_service_index_is_answered_from_memory_without_a_query(app, client, monkeypatch):
    from sqlalchemy import event

    from mediacache.db.extensions import db
    from mediacache.media import stats

    monkeypatch.setattr(stats, "RECENT_STATS_LIFETIME", 60)  # so both calls surely fall in one window
    assert client.get("/api").json["cache_stats"]["live"] == 0  # the first call counts
    statements = []
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))  # the SQL text
    finished_entry(app)  # a new live entry: the counts in memory do not know it yet
    statements.clear()
    answers = [client.get("/api") for _ in range(2)]
    assert statements == []
    assert [answer.json["cache_stats"]["live"] for answer in answers] == [0, 0]


def test_service_index_is_answered_in_front_of_flask_once_rendered(app, client, admin, monkeypatch):
    from mediacache.media import stats

    monkeypatch.setattr(stats, "RECENT_STATS_LIFETIME", 60)
    dispatched = flask_dispatches(app, monkeypatch)
    first, second, slash = client.get("/api"), client.get("/api"), client.get("/api/")
    assert dispatched == ["/api"]  # rendered once, then answered from memory (the same for /api/)
    assert (first.status_code, first.json) == (second.status_code, second.json) == (200, slash.json)
    assert sorted(first.headers.keys()) == sorted(second.headers.keys())
    assert client.head("/api").status_code == 200 and dispatched == ["/api"]
    # Another host asked under means other file roots: rendered for it.
    other = client.get("/api", headers={"Host": "media.example.org"})
    assert other.json["cache_endpoints"] == ["http://media.example.org/cache/"] and len(dispatched) == 2
    # A settings change shows at once, not a second later.
    assert client.put("/api/settings/max_ttl", json={"value": 7200}, headers=admin).status_code == 200
    assert client.get("/api").json["limits"]["max_ttl"] == 7200


def test_service_index_counts_catch_up_within_about_a_second(app, client):
    assert client.get("/api").json["cache_stats"]["live"] == 0
    finished_entry(app)
    # The window is 1 s; 10 is generous for a loaded machine.
    eventually(lambda: client.get("/api").json["cache_stats"]["live"] == 1, timeout=10,
               failure=lambda _: "GET /api still shows the old counts")  # fmt: skip


def test_api_answers_carry_cors_headers_for_any_origin_by_default(app, client, admin):
    origin = {"Origin": "https://game.example"}
    media_id = finished_entry(app)
    answers = [
        client.get("/api", headers=origin),
        client.get("/api/media", headers=origin),  # 401: the error is readable too
        client.get(f"/api/media/{media_id}", headers=admin | origin),
        client.get(f"/api/media/{media_id}", headers=admin | origin),  # from memory, in front of Flask
        client.get("/api/nothing-here", headers=origin),
    ]
    assert [answer.status_code for answer in answers] == [200, 401, 200, 200, 404]
    for answer in answers:
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert "X-Request-ID" in answer.headers["Access-Control-Expose-Headers"]
        assert "Access-Control-Allow-Credentials" not in answer.headers
    assert "Access-Control-Allow-Origin" not in client.get("/health", headers=origin).headers


def test_a_preflight_allows_authorization_and_content_type_for_the_routes_methods(client):
    response = client.options("/api/media/queue", headers={
        "Origin": "https://game.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })  # fmt: skip
    assert response.status_code == 204 and response.data == b""
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    allowed_headers = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers
    assert "POST" in response.headers["Access-Control-Allow-Methods"].split(", ")
    ping = client.options("/api/ping", headers={"Origin": "https://a.example", "Access-Control-Request-Method": "GET"})
    assert ping.status_code == 204 and "POST" not in ping.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    entry = client.options("/api/media/some-id", headers={"Origin": "https://a.example",
                                                         "Access-Control-Request-Method": "DELETE"})  # fmt: skip
    assert entry.status_code == 204 and "DELETE" in entry.headers["Access-Control-Allow-Methods"]


def test_configured_cors_origins_echo_the_matching_origin_only(configured):
    _, client, _ = configured(CORS_ORIGINS="https://a.example, https://b.example:8443/")
    for origin in ("https://a.example", "https://b.example:8443"):
        answer = client.get("/api", headers={"Origin": origin})
        assert answer.headers["Access-Control-Allow-Origin"] == origin and "Origin" in answer.headers["Vary"]
        preflight = client.options("/api/media/queue", headers={"Origin": origin,
                                                                "Access-Control-Request-Method": "POST"})  # fmt: skip
        assert preflight.headers["Access-Control-Allow-Origin"] == origin
    stranger = client.get("/api", headers={"Origin": "https://evil.example"})
    assert stranger.status_code == 200 and "Access-Control-Allow-Origin" not in stranger.headers
    assert "Access-Control-Allow-Credentials" not in stranger.headers


@pytest.mark.parametrize("value", ["a.example", "https://a.example/path", "ftp://a.example"])
def test_a_cors_origin_that_is_no_origin_stops_start_up(tmp_path, value):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        create_app(make_settings(tmp_path, CORS_ORIGINS=value))


@pytest.mark.e2e
def test_the_real_server_answers_a_preflight_and_cors_on_api(tmp_path):
    server = LiveServer(tmp_path).start()
    try:
        status, headers, _ = server("OPTIONS", "/api/media/queue", headers={
            "Origin": "https://game.example", "Access-Control-Request-Method": "POST"})  # fmt: skip
        assert status == 204 and headers["Access-Control-Allow-Origin"] == "*"
        assert "Authorization" in headers["Access-Control-Allow-Headers"]
        status, headers, body = server("GET", "/api", headers={"Origin": "https://game.example"})
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "*" and "mp3" in body["media_profiles"]
    finally:
        server.stop()


def test_service_index_is_given_on_the_servers_main_loop_only_from_memory(app, client, monkeypatch):
    from werkzeug.test import EnvironBuilder

    from mediacache.media import stats
    from mediacache.patches.waitress import ON_MAIN_LOOP, NeedsThread

    def on_main_loop():
        environ = EnvironBuilder(path="/api", headers={"Origin": "https://game.example"}).get_environ()
        environ[ON_MAIN_LOOP] = True
        started = []
        body = b"".join(app(environ, lambda status, headers, exc_info=None: started.append((status, dict(headers)))))
        return started[0][0], started[0][1], body

    monkeypatch.setattr(stats, "RECENT_STATS_LIFETIME", 60)
    with pytest.raises(NeedsThread):
        on_main_loop()  # nothing in memory yet: a thread renders it
    rendered = client.get("/api")
    status, headers, body = on_main_loop()
    assert status == "200 OK" and body == rendered.data
    assert headers["Access-Control-Allow-Origin"] == "*" and headers["Content-Type"] == "application/json"
