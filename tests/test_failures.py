"""yt-dlp's failures in three classes (issue 16), driven offline by the fake site in tests/ytdlp_plugins.

permanent: the entry fails at once; transient: retried with backoff, pending meanwhile; infrastructure:
fails at once and /api/health turns degraded.
"""

from __future__ import annotations

import sys
import threading
from datetime import timedelta

import pytest

from mediacache import create_app
from mediacache.core.timeutil import utcnow
from mediacache.db import media_repo
from mediacache.db.extensions import db
from mediacache.db.models import Media
from mediacache.media import reconcile, transitions
from tests.helpers import (
    ADMIN_PASSWORD,
    auth_header,
    eventually,
    login,
    make_settings,
    read_entry,
    restarted_from,
    wait_for_entry,
)


@pytest.fixture
def fake(media_server):
    """The fake site's state (calls per URL, a hold) and a URL maker on the loopback origin."""
    from yt_dlp.plugins import load_all_plugins  # noqa: F401 — loaded with the first YoutubeDL anyway

    module = sys.modules.get("yt_dlp_plugins.extractor.mediacache_fake")
    if module is None:
        import yt_dlp

        yt_dlp.YoutubeDL({"quiet": True})  # loads the plugins
        module = sys.modules["yt_dlp_plugins.extractor.mediacache_fake"]
    module = module.state  # shared by every import of the plugin, whichever class the service uses
    module.reset()
    module.url = lambda scenario: media_server.url(f"/fake/{scenario}")
    yield module
    module.release.set()


def wait_for_retry(client, media_id: str, headers, timeout: float = 60) -> dict:
    """Poll the entry until it waits for a retry (pending, with retry_at in its progress)."""

    def waiting_for_retry():
        body = read_entry(client, media_id, headers)
        assert body["status"] != "failed", body
        return body if body["status"] == "pending" and (body["progress"] or {}).get("retry_at") else None

    return eventually(waiting_for_retry, timeout=timeout)


def queue(client, headers, url):
    response = client.post("/api/media/queue", json={"url": url}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.mark.parametrize(
    "scenario, code",
    [
        ("private", "ACCESS_DENIED_PRIVATE"),
        ("removed", "MEDIA_UNAVAILABLE"),
        ("terminated", "MEDIA_UNAVAILABLE"),
        ("age", "ACCESS_DENIED_AGE_RESTRICTED"),
        ("geo", "GEO_BLOCKED"),
        ("drm", "DRM_PROTECTED"),
        ("live", "LIVE_STREAM"),
        ("upcoming", "LIVE_STREAM"),
        ("unsupported", "UNSUPPORTED_URL"),
    ],
)
def test_a_permanent_failure_fails_the_entry_at_once(configured, fake, scenario, code):
    _, client, headers = configured(RETRY_ATTEMPTS=3, RETRY_BASE_DELAY=0.01)
    entry = wait_for_entry(client, queue(client, headers, fake.url(scenario)), headers)
    assert entry["status"] == "failed" and entry["error"]["code"] == code, entry
    # Never tried again (yt-dlp itself tries a geo-blocked page once more with a faked X-Forwarded-For).
    assert fake.calls[scenario] == (2 if scenario == "geo" else 1)


@pytest.mark.parametrize(
    "scenario, code",
    [
        ("bot", "BOT_CHECK"),
        ("reload", "PAGE_RELOAD_REQUIRED"),
        ("ratelimit", "UPSTREAM_RATE_LIMITED"),
        ("forbidden", "UPSTREAM_FORBIDDEN"),
        ("network", "NETWORK_ERROR"),
    ],
)
def test_a_transient_failure_is_retried_up_to_the_limit_then_fails_with_its_code(configured, fake, scenario, code):
    _, client, headers = configured(RETRY_ATTEMPTS=2, RETRY_BASE_DELAY=0.01)
    entry = wait_for_entry(client, queue(client, headers, fake.url(scenario)), headers)
    assert entry["status"] == "failed" and entry["error"]["code"] == code, entry
    assert fake.calls[scenario] == 3  # the first attempt and two retries
    assert "after 3 attempts" in entry["error"]["message"]


def test_an_entry_waiting_for_a_retry_is_pending_with_attempts_and_retry_at_in_its_progress(configured, fake):
    _, client, headers = configured(RETRY_ATTEMPTS=3, RETRY_BASE_DELAY=3600)
    media_id = queue(client, headers, fake.url("bot"))
    entry = wait_for_retry(client, media_id, headers)
    progress = entry["progress"]
    assert entry["status"] == "pending" and entry["error"] is None
    assert progress["stage"] == "waiting" and progress["attempts"] == 1 and progress["max_attempts"] == 4
    assert progress["last_error"]["code"] == "BOT_CHECK"
    assert progress["retry_at"].endswith("Z") and 1700 <= progress["eta"] <= 3600  # backoff with jitter


def test_a_transient_failure_heals_when_the_site_lets_up(configured, fake):
    _, client, headers = configured(RETRY_ATTEMPTS=3, RETRY_BASE_DELAY=0.01)
    entry = wait_for_entry(client, queue(client, headers, fake.url("flaky-2")), headers)
    assert entry["status"] == "completed", entry
    assert fake.calls["flaky-2"] == 3


def test_retry_delays_grow_exponentially_with_jitter_and_stay_under_the_cap():
    for attempt, (low, high) in {1: (5, 10), 2: (10, 20), 3: (20, 40)}.items():
        delays = {transitions.retry_delay(attempt, 10, 3600) for _ in range(50)}
        assert all(low <= delay <= high for delay in delays) and len(delays) > 1
    assert transitions.retry_delay(30, 10, 60) <= 60


def test_a_retry_survives_a_restart(tmp_path, fake):
    settings = make_settings(tmp_path, RETRY_ATTEMPTS=3, RETRY_BASE_DELAY=3600)
    first = create_app(settings)
    client = first.test_client()
    headers = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
    media_id = queue(client, headers, fake.url("flaky-1"))
    wait_for_retry(client, media_id, headers)
    first.extensions["mediacache.jobs"].shutdown()  # the process ends with the retry an hour away

    second = create_app(settings)
    try:
        with second.app_context():  # the hour has passed
            media_repo.change_all(Media.retry_at.is_not(None), retry_at=utcnow() + timedelta(seconds=0.2))
            db.session.commit()
        assert reconcile.recover_on_start(second)["resubmitted"] == 1
        client = second.test_client()
        entry = wait_for_entry(client, media_id, auth_header(login(client, "admin", ADMIN_PASSWORD)["token"]))
        assert entry["status"] == "completed", entry
        assert fake.calls["flaky-1"] == 2
    finally:
        second.extensions["mediacache.jobs"].shutdown()


def test_the_scheduler_runs_retries_that_are_due(configured, fake):
    app, client, headers = configured(RETRY_ATTEMPTS=3, RETRY_BASE_DELAY=3600)
    media_id = queue(client, headers, fake.url("flaky-1"))
    wait_for_retry(client, media_id, headers)
    with app.app_context():
        media_repo.change_all(Media.retry_at.is_not(None), retry_at=utcnow() - timedelta(seconds=1))
        db.session.commit()
        assert transitions.run_due_retries() == 1
    assert wait_for_entry(client, media_id, headers)["status"] == "completed"


@pytest.mark.parametrize(
    "scenario, code",
    [("nojs", "JS_RUNTIME_MISSING"), ("challenge", "CHALLENGE_FAILED"), ("pot", "POT_PROVIDER_UNAVAILABLE")],
)
def test_an_infrastructure_failure_fails_at_once_and_degrades_health(configured, fake, scenario, code):
    _, client, headers = configured(RETRY_ATTEMPTS=3, RETRY_BASE_DELAY=0.01)
    entry = wait_for_entry(client, queue(client, headers, fake.url(scenario)), headers)
    assert entry["status"] == "failed" and entry["error"]["code"] == code, entry
    assert fake.calls[scenario] == 1
    health = client.get("/api/health").json
    check = health["checks"]["extractors"]
    assert health["status"] != "healthy" and check["status"] == "degraded"
    assert check["sites"]["fakesite"]["up"] is False and check["sites"]["fakesite"]["error"]["code"] == code
    metrics = client.get("/metrics", headers=headers).get_data(as_text=True)
    assert 'mediacache_extractor_up{extractor="fakesite"} 0.0' in metrics
    # The next job that works brings the site back up.
    assert wait_for_entry(client, queue(client, headers, fake.url("ok")), headers)["status"] == "completed"
    assert client.get("/api/health").json["checks"]["extractors"]["status"] == "healthy"


def test_an_extractor_breaking_on_an_old_yt_dlp_is_blamed_on_its_age(configured, fake):
    # The installed yt-dlp is weeks old: a limit of one day makes it "out of date".
    _, client, headers = configured(YTDLP_MAX_AGE_DAYS=1)
    entry = wait_for_entry(client, queue(client, headers, fake.url("broken")), headers)
    assert entry["status"] == "failed" and entry["error"]["code"] == "YTDLP_OUTDATED", entry
    check = client.get("/api/health").json["checks"]["extractors"]
    assert check["status"] == "degraded" and "update-ytdlp" in check["error"]
    assert "mediacache_ytdlp_age_days " in client.get("/metrics", headers=headers).get_data(as_text=True)


def test_the_same_breakage_on_a_current_yt_dlp_is_a_plain_upstream_error(configured, fake):
    _, client, headers = configured()
    entry = wait_for_entry(client, queue(client, headers, fake.url("broken")), headers)
    assert entry["error"]["code"] == "UPSTREAM_ERROR", entry
    assert client.get("/api/health").json["checks"]["extractors"]["status"] == "healthy"


def test_a_lookup_answers_with_the_same_codes(client, admin, fake):
    for scenario, status, code in [("geo", 451, "GEO_BLOCKED"), ("bot", 503, "BOT_CHECK"), ("private", 403,
                                   "ACCESS_DENIED_PRIVATE"), ("nojs", 503, "JS_RUNTIME_MISSING")]:  # fmt: skip
        response = client.get("/api/ytdlp", query_string={"url": fake.url(scenario)}, headers=admin)
        assert (response.status_code, response.json["error"]["code"]) == (status, code), response.json


def test_a_site_at_its_limit_waits_without_holding_back_other_sites(configured, fake, media_server):
    _, client, headers = configured(WORKERS=3, EXTRACTOR_LIMITS="fakesite=1/0s")
    held = [queue(client, headers, fake.url(f"hold-{n}")) for n in range(3)]
    other = queue(client, headers, media_server.url("/media/tone.mp3"))
    # A worker is free for the other site although two fakesite jobs wait: they gave their workers back.
    assert wait_for_entry(client, other, headers)["status"] == "completed"
    assert fake.active == 1
    fake.release.set()
    assert [wait_for_entry(client, media_id, headers)["status"] for media_id in held] == ["completed"] * 3
    assert fake.max_active == 1


def test_a_site_limit_spaces_job_starts_by_its_interval():
    from mediacache.jobs.extractorlimits import ExtractorGate

    now = [100.0]
    gate = ExtractorGate({"youtube": (2, 1.0)}, clock=lambda: now[0])
    woken = threading.Event()
    assert gate.enter("youtube", woken.set)
    assert not gate.enter("youtube", woken.set)  # a second slot is free, but not a second yet
    assert gate.waiting("youtube") == 1
    now[0] += 1.0
    assert woken.wait(10)  # the gate's timer wakes the waiter once the interval has passed
    assert gate.enter("generic", lambda: None) and gate.enter("generic", lambda: None)  # other sites: no limit
    gate.close()


def test_extractor_limits_parse_and_refuse_nonsense():
    from mediacache.config.parsers import parse_extractor_limits

    assert parse_extractor_limits("youtube=2/1s, soundcloud=4/0.5s,vimeo=1") == {
        "youtube": (2, 1.0), "soundcloud": (4, 0.5), "vimeo": (1, 0.0)}  # fmt: skip
    for bad in ("youtube", "youtube=0/1s", "youtube=two"):
        with pytest.raises(ValueError):
            parse_extractor_limits(bad)


def test_a_database_from_before_version_5_gains_the_retry_columns(tmp_path):
    from sqlalchemy import text

    restarted = restarted_from(make_settings(tmp_path), 4, "ALTER TABLE media DROP COLUMN retry_at",
                               "ALTER TABLE media DROP COLUMN attempts")  # fmt: skip
    with restarted.app_context():
        columns = {row[1] for row in db.session.execute(text("PRAGMA table_info('media')"))}
        assert {"attempts", "retry_at"} <= columns


def test_only_the_extractors_of_limited_sites_are_asked_which_site_a_url_is():
    from mediacache.sources.ytdlp import site_for

    config = {"EXTRACTOR_LIMITS": {"youtube": (2, 1.0)}}
    assert site_for("https://www.youtube.com/watch?v=dQw4w9WgXcQ", config) == "youtube"
    assert site_for("https://youtu.be/dQw4w9WgXcQ", config) == "youtube"
    assert site_for("https://media.example.org/song.mp3", config) is None  # not limited: not held
    assert site_for("https://www.youtube.com/watch?v=dQw4w9WgXcQ", {"EXTRACTOR_LIMITS": {}}) is None


def test_an_entry_cancelled_while_it_waits_for_a_retry_is_not_retried(configured, fake):
    app, client, headers = configured(RETRY_ATTEMPTS=3, RETRY_BASE_DELAY=3600)
    media_id = queue(client, headers, fake.url("flaky-1"))
    wait_for_retry(client, media_id, headers)
    assert client.delete(f"/api/media/{media_id}", query_string={"force": "true"}, headers=headers).status_code == 204
    with app.app_context():
        media_repo.change_all(Media.id == media_id, retry_at=utcnow() - timedelta(seconds=1))
        db.session.commit()
        assert transitions.run_due_retries() == 0  # it is no longer pending
    app.extensions["mediacache.jobs"].submit(media_id)  # a timer that fires anyway claims nothing
    assert app.extensions["mediacache.jobs"].wait_idle(30)
    entry = client.get(f"/api/media/{media_id}", headers=headers).json
    assert entry["status"] == "failed" and entry["error"]["code"] == "CANCELLED", entry
    assert fake.calls["flaky-1"] == 1
