"""Operations: health, stats, request logs, access accounting, audit, metrics, settings, job admin."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from werkzeug.http import parse_options_header

from mediacache import create_app
from mediacache.db.extensions import db
from mediacache.media.hits import get_access_counter
from tests.helpers import make_settings, queue_and_wait, settled, shift, wait_for_entry

# --- health -------------------------------------------------------------------------


def test_health_reports_every_check(client):
    response = client.get("/api/health")
    body = response.json
    assert set(body["checks"]) == {
        "database",
        "disk",
        "ffmpeg",
        "yt_dlp",
        "network_guard",
        "js_runtime",
        "scheduler",
        "workers",
        "deployment",
        "patches",
        "extractors",
    }
    assert body["checks"]["database"]["status"] == "healthy"
    assert body["checks"]["ffmpeg"]["version"].startswith("ffmpeg version")
    assert "path" not in body["checks"]["ffmpeg"]  # public route: no filesystem paths
    assert body["checks"]["yt_dlp"]["version"]
    assert body["checks"]["disk"]["free_bytes"] > 0
    assert body["checks"]["workers"]["size"] == 2
    assert response.status_code == 200 and body["status"] in ("healthy", "degraded")


def test_health_is_503_when_a_cache_folder_is_gone(app, client):
    shutil.rmtree(app.config["PRIVATE_CACHE"])
    response = client.get("/api/health")
    assert response.status_code == 503 and response.json["status"] == "unhealthy"
    assert response.json["checks"]["disk"]["status"] == "unhealthy"


def test_health_is_503_when_ffmpeg_is_missing(tmp_path):
    client = create_app(make_settings(tmp_path, FFMPEG="/nonexistent/ffmpeg")).test_client()
    response = client.get("/api/health")
    assert response.status_code == 503 and response.json["checks"]["ffmpeg"]["status"] == "unhealthy"


def test_scheduler_check_is_degraded_when_enabled_but_not_running(tmp_path):
    client = create_app(make_settings(tmp_path, SCHEDULER=True)).test_client()
    body = client.get("/api/health").json
    assert body["checks"]["scheduler"]["status"] == "degraded" and body["status"] == "degraded"


# --- stats and request logs ------------------------------------------------------------


@pytest.mark.e2e
def test_stats_count_by_profile_format_and_status(client, admin, media_server):
    queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), profile="ogg-opus")
    queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), profile="ogg-vorbis")
    queue_and_wait(client, admin, media_server.url("/media/tone.mp3"))
    failed = client.post("/api/media/queue", json={"url": media_server.url("/status/404")}, headers=admin).json
    wait_for_entry(client, failed["id"], admin)
    body = client.post("/api/stats", headers=admin).json
    assert body["status"] == "success" and body["total_conversions"] == 3
    assert body["by_profile"] == {"ogg-opus": 1, "ogg-vorbis": 1, "mp3": 2}
    assert body["by_format"] == {"ogg": 2, "mp3": 2}
    assert body["by_status"] == {"completed": 3, "failed": 1}
    assert body["cache"]["live"] == 3 and body["cache"]["bytes_live"] > 0


def test_request_log_records_every_queue_call_with_its_extra(client, admin, user, media_server):
    url = media_server.url("/media/tone.mp3")
    client.post("/api/media/queue", json={"url": url, "extra": {"ckey": "player1"}}, headers=user)
    client.post("/api/media/queue", json={"url": url, "extra": '{"ckey": "player2"}'}, headers=user)
    client.post("/api/media/queue", json={"url": "https://example.org/x", "profile": "bogus"}, headers=user)
    text = client.get("/api/logs", headers=user)
    assert text.mimetype == "text/plain" and "attachment" in text.headers["Content-Disposition"]
    lines = text.get_data(as_text=True).splitlines()
    assert len(lines) == 2  # the 400 never reached the service; the two real calls are logged
    assert "409 ALREADY_QUEUED" in lines[0] or "409 ALREADY_CACHED" in lines[0]
    assert '"ckey": "player2"' in lines[0] and "201 CREATED" in lines[1] and '"ckey": "player1"' in lines[1]
    as_json = client.get("/api/logs?format=json", headers=user).json
    assert as_json["pagination"]["total"] == 2 and as_json["items"][1]["extra"] == {"ckey": "player1"}
    assert client.get("/api/logs?format=json", headers=admin).json["pagination"]["total"] == 0
    assert client.get("/api/logs?format=json&user=player", headers=admin).json["pagination"]["total"] == 2
    assert client.get("/api/logs?user=admin", headers=user).status_code == 403


@pytest.mark.parametrize(
    "user, disposition",
    [
        # A fullwidth digit: not latin-1, once a 500 from waitress.
        ("%EF%BC%93", "attachment; filename=\"mediacache-requests-3.log\"; "
                      "filename*=UTF-8''mediacache-requests-%EF%BC%93.log"),
        # Once a header of its own.
        ("a%0d%0aX-Inj:1", 'attachment; filename="mediacache-requests-aX-Inj 1.log"'),
        # Once a second parameter: the quote is gone, so the rest stays inside the one quoted name.
        ("a%22%3B%20filename%3Devil.html", 'attachment; filename="mediacache-requests-a ; filename=evil.html.log"'),
        # Once a raw latin-1 byte.
        ("%C3%A9", "attachment; filename=\"mediacache-requests-e.log\"; "
                   "filename*=UTF-8''mediacache-requests-%C3%A9.log"),
    ],
)  # fmt: skip
def test_request_log_download_name_is_safe_whatever_user_is_asked_for(client, admin, user, disposition):
    response = client.get(f"/api/logs?user={user}", headers=admin)
    assert response.status_code == 200
    header = response.headers["Content-Disposition"]
    assert header == disposition and header.isascii()
    kind, parameters = parse_options_header(header)
    assert kind == "attachment" and set(parameters) == {"filename"}  # werkzeug folds filename* into filename


def test_request_log_download_name_keeps_a_plain_username(client, admin, user):
    header = client.get("/api/logs?user=player", headers=admin).headers["Content-Disposition"]
    assert header == 'attachment; filename="mediacache-requests-player.log"'


def test_request_log_since_and_until(client, user, media_server):
    client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=user)
    future = client.get("/api/logs?format=json&since=2999-01-01T00:00:00Z", headers=user).json
    past = client.get("/api/logs?format=json&until=2000-01-01T00:00:00Z", headers=user).json
    now = client.get("/api/logs?format=json&since=2000-01-01T00:00:00Z", headers=user).json
    assert (future["pagination"]["total"], past["pagination"]["total"], now["pagination"]["total"]) == (0, 0, 1)
    assert client.get("/api/logs?since=yesterday", headers=user).status_code == 400


# --- access accounting -----------------------------------------------------------------


def test_file_hits_are_counted_without_a_database_write_per_request(app, client, admin, media_server):
    body = settled(client, queue_and_wait(client, admin, media_server.url("/media/tone.mp3")), admin)
    writes = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda c, cur, sql, *a: writes.append(sql) if sql.lstrip().upper().startswith(("UPDATE", "INSERT"))
                     else None)  # fmt: skip
    for _ in range(5):
        assert client.get(body["path"]).status_code == 200
    assert client.get(body["path"], headers={"Range": "bytes=0-1"}).status_code == 206
    assert writes == []
    seen = client.get(f"/api/media/{body['id']}", headers=admin).json
    assert seen["hits"] == 6 and seen["last_accessed_at"].endswith("Z")
    with app.app_context():
        assert get_access_counter(app).flush() == 1
    # One write of the entries' counts per flush, not per request, and one of the day's count (the dashboard's chart).
    assert len([sql for sql in writes if "hits" in sql and "media" in sql]) == 1
    assert len([sql for sql in writes if "daily_served" in sql]) == 1
    assert client.get(f"/api/media/{body['id']}", headers=admin).json["hits"] == 6
    assert client.get("/api/media?sort=-hits", headers=admin).json["items"][0]["id"] == body["id"]


# --- audit -------------------------------------------------------------------------------


def test_audit_log_records_logins_user_changes_deletions_and_settings(client, admin, media_server):
    client.post("/api/login", json={"username": "admin", "password": "wrong-password"})
    client.post("/api/users", json={"username": "gamer", "password": "gamer-pass"}, headers=admin)
    client.patch("/api/users/gamer", json={"role": "admin"}, headers=admin)
    client.put("/api/settings/default_ttl", json={"value": 600}, headers=admin)
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"))
    client.delete(f"/api/media/{body['id']}", headers=admin)
    client.delete("/api/users/gamer", headers=admin)
    page = client.get("/api/admin/activity?limit=100", headers=admin).json
    actions = [item["action"] for item in page["items"]]
    for action in (
        "login",
        "login_failed",
        "user_created",
        "user_updated",
        "setting_changed",
        "media_deleted",
        "user_deleted",
    ):
        assert action in actions, action
    failed = next(item for item in page["items"] if item["action"] == "login_failed")
    assert failed["target"] == "admin" and "wrong-password" not in str(page)
    only = client.get("/api/admin/activity?action=setting_changed", headers=admin).json["items"]
    assert only[0]["details"] == {"old": 3600, "new": 600}


# --- metrics -------------------------------------------------------------------------------


def test_metrics_need_an_admin_token(client, user):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=user).status_code == 403


def test_metrics_expose_requests_jobs_queue_workers_cache_and_sweeps(app, client, admin, media_server):
    queue_and_wait(client, admin, media_server.url("/media/tone.mp3"))
    assert app.extensions["mediacache.jobs"].wait_idle(20)  # the worker tidies up after the final status
    from mediacache.jobs import scheduler
    from mediacache.media import periodic

    with app.app_context():
        scheduler.in_app_context(app, periodic.PERIODIC_JOBS[0])()
    text = client.get("/metrics", headers=admin).get_data(as_text=True)
    assert 'mediacache_http_requests_total{method="POST",route="/api/media/queue",status="201"} 1.0' in text
    assert (
        'mediacache_http_request_duration_seconds_bucket{le="0.1",method="GET",route="/api/media/<media_id>"}' in text
    )
    assert 'mediacache_jobs_total{outcome="completed"} 1.0' in text
    assert "mediacache_job_duration_seconds_count" in text
    assert "mediacache_queue_depth 0.0" in text and "mediacache_workers_busy 0.0" in text
    assert "mediacache_cache_bytes_live" in text and "mediacache_cache_bytes_retained 0.0" in text
    assert 'mediacache_sweep_runs_total{job="expire-entries"} 1.0' in text


def test_made_up_methods_share_one_metrics_label_instead_of_growing_the_registry(client, admin):
    for word in ("BREW", "WHEN", "XYZZY"):
        assert client.open("/api/ping", method=word).status_code == 405
    text = client.get("/metrics", headers=admin).get_data(as_text=True)
    assert 'method="OTHER",route="<unmatched>",status="405"} 3.0' in text
    assert "BREW" not in text and "XYZZY" not in text


def test_metrics_can_be_public(tmp_path):
    client = create_app(make_settings(tmp_path, METRICS_PUBLIC=True)).test_client()
    assert client.get("/metrics").status_code == 200


# --- runtime settings -----------------------------------------------------------------------


def test_settings_list_and_validate(client, admin, user):
    body = client.get("/api/settings", headers=admin).json
    assert set(body) == {"default_ttl", "max_ttl", "retention_days", "workers", "max_duration", "max_filesize",
                         "registration"}  # fmt: skip
    assert body["default_ttl"] == {"value": 3600, "default": 3600}
    assert client.get("/api/settings", headers=user).status_code == 403
    assert client.put("/api/settings/colour", json={"value": 1}, headers=admin).status_code == 404
    bad = client.put("/api/settings/workers", json={"value": "many"}, headers=admin)
    assert bad.status_code == 400 and bad.json["error"]["code"] == "INVALID_SETTING"
    assert client.put("/api/settings/default_ttl", json={"value": 10**9}, headers=admin).status_code == 400
    assert client.put("/api/settings/registration", json={"value": "maybe"}, headers=admin).status_code == 400
    assert client.put("/api/settings/workers", json={}, headers=admin).status_code == 400
    # Digits only, as everywhere: int() would read these as 3, 30, 3, 3; and no thousands of workers.
    for odd in ("+3", "3_0", "３", "٣", "3.0"):
        response = client.put("/api/settings/retention_days", json={"value": odd}, headers=admin)
        assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_SETTING", odd
    assert client.put("/api/settings/workers", json={"value": 100_000}, headers=admin).status_code == 400
    assert client.put("/api/settings/retention_days", json={"value": "30"}, headers=admin).json["value"] == 30


def test_settings_take_effect_at_once_and_survive_a_restart(settings, app, client, admin, media_server):
    assert client.put("/api/settings/default_ttl", json={"value": 120}, headers=admin).json["value"] == 120
    queued = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=admin)
    assert queued.json["ttl"] == 120
    client.put("/api/settings/workers", data={"value": "3"}, headers=admin)
    assert app.extensions["mediacache.jobs"].size == 3
    assert wait_for_entry(client, queued.json["id"], admin)["status"] == "completed"
    client.put("/api/settings/registration", json={"value": "open"}, headers=admin)
    assert client.post("/api/register", json={"username": "walkin", "password": "walkin-pass"}).status_code == 201
    restarted = create_app(settings)
    assert restarted.extensions["mediacache.jobs"].size == 3
    body = restarted.test_client().get("/api/settings", headers=admin).json
    assert body["default_ttl"]["value"] == 120 and body["registration"]["value"] == "open"


# --- job administration ----------------------------------------------------------------------


def test_job_admin_lists_running_and_failed_and_requeues_and_purges(app, client, admin, media_server):
    media_server.trickle_delay = 0.1
    running = client.post("/api/media/queue", json={"url": media_server.url("/trickle/long.mp3")},
                          headers=admin).json  # fmt: skip
    failed = client.post("/api/media/queue", json={"url": media_server.url("/status/500")}, headers=admin).json
    wait_for_entry(client, failed["id"], admin)
    wait_for_entry(client, running["id"], admin, until=("downloading",))
    jobs = client.get("/api/admin/jobs", headers=admin).json
    assert [item["id"] for item in jobs["items"]] == [running["id"]]
    dlq = client.get("/api/admin/jobs/dlq", headers=admin).json
    assert [item["id"] for item in dlq["items"]] == [failed["id"]]
    requeued = client.post("/api/admin/jobs/requeue", json={"ids": [failed["id"], running["id"]]}, headers=admin).json
    assert requeued["requeued"] == [failed["id"]] and requeued["skipped"][0]["code"] == "NOT_RETRYABLE"
    purged = client.post("/api/admin/jobs/purge", json={"ids": [running["id"], "nope"]}, headers=admin).json
    assert purged["purged"] == [running["id"]] and purged["skipped"][0]["code"] == "NOT_FOUND"
    assert client.get(f"/api/media/{running['id']}", headers=admin).json["error"]["code"] == "CANCELLED"
    assert client.post("/api/admin/jobs/requeue", json={"ids": []}, headers=admin).status_code == 400


def test_capacity_probe_and_sweep(app, client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"))
    report = client.get("/api/admin/capacity", headers=admin).json
    assert report["bytes_live"] == body["size_bytes"] and report["bytes_retained"] == 0
    assert report["disk_free"] > 0 and report["quota_bytes"] is None and 0 < report["disk_used_percent"] < 100
    probed = client.post("/api/admin/capacity/probe-now", headers=admin).json
    assert probed["measured"]["static_cache"] == body["size_bytes"]
    assert probed["reconciled"]["orphans_removed"] == 0
    assert client.post("/api/admin/sweep", headers=admin).json == {"status": "success", "expired": 0, "purged": 0}
    shift(app, body["id"], expires_at=timedelta(hours=2))
    assert client.post("/api/admin/sweep", headers=admin).json == {"status": "success", "expired": 1, "purged": 0}
    assert client.get(f"/api/media/{body['id']}", headers=admin).json["cache_state"] == "expired"


def test_quota_percent_with_a_cache_limit(configured, media_server):
    _app, client, headers = configured(MAX_CACHE_BYTES=1_000_000)
    body = queue_and_wait(client, headers, media_server.url("/media/tone.mp3"))
    report = client.get("/api/admin/capacity", headers=headers).json
    assert report["quota_used_percent"] == round(body["size_bytes"] / 1_000_000 * 100, 2)


def test_backup_cli_copies_the_live_database(app, client, admin, tmp_path):
    client.post("/api/users", json={"username": "saved", "password": "saved-pass"}, headers=admin)
    target = tmp_path / "backup.db"
    result = app.test_cli_runner().invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    import sqlite3

    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM users WHERE username = 'saved'").fetchone()[0] == 1
    assert Path(target).stat().st_size > 0
