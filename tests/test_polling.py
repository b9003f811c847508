"""GET /api/media/<id> as a game server uses it: many polls a second, each answer current."""

from __future__ import annotations

import time

from mediacache.extensions import db
from mediacache.models import Media
from mediacache.timeutil import utcnow
from tests.helpers import ADMIN_PASSWORD, finished_entry, flask_dispatches, login


def test_every_poll_shows_the_hits_counted_so_far(app, client, admin):
    media_id = finished_entry(app)
    path = client.get(f"/api/media/{media_id}", headers=admin).json["path"]
    for expected in (1, 2, 3):
        assert client.get(path).status_code == 200
        assert client.get(f"/api/media/{media_id}", headers=admin).json["hits"] == expected


def test_a_poll_turns_invalid_the_moment_the_ttl_ends(app, client, admin):
    media_id = finished_entry(app, ttl_left=1.5)
    with app.app_context():
        expires_at = db.session.get(Media, media_id).expires_at
    deadline = time.monotonic() + 5
    while True:
        asked_at = utcnow()
        body = client.get(f"/api/media/{media_id}", headers=admin).json
        if not body["valid"]:
            break
        assert asked_at < expires_at, "a poll after the TTL ended still called the entry valid"
        assert time.monotonic() < deadline, "the entry stayed valid past its TTL"
        time.sleep(0.02)
    assert body["path"] is None and body["endpoints"] == []


def test_each_poll_names_the_host_it_was_asked_under(app, client, admin):
    media_id = finished_entry(app)
    for host in ("cache.lan:8080", "media.example.org"):
        body = client.get(f"/api/media/{media_id}", headers=admin, base_url=f"http://{host}").json
        assert body["endpoints"][0].startswith(f"http://{host}/cache/")


def test_a_poll_after_a_change_shows_the_change(app, client, admin):
    media_id = finished_entry(app)
    assert client.get(f"/api/media/{media_id}", headers=admin).json["cache_state"] == "live"
    assert client.delete(f"/api/media/{media_id}", headers=admin).status_code == 204
    body = client.get(f"/api/media/{media_id}", headers=admin).json
    assert (body["cache_state"], body["valid"]) == ("deleted", False)


def test_a_poll_right_after_a_job_commits_sees_the_commit(app, client, admin):
    from sqlalchemy import text

    media_id = finished_entry(app)
    # A job's write: made, then committed a moment later.
    with app.app_context(), db.engine.connect() as writer:
        writer.execute(text("UPDATE media SET status = 'failed' WHERE id = :id"), {"id": media_id})
        # A poll between the write and its commit still sees the old row, which is right…
        assert client.get(f"/api/media/{media_id}", headers=admin).json["status"] == "completed"
        writer.commit()
    # …but the next poll after the commit must not be served that old row from memory.
    assert client.get(f"/api/media/{media_id}", headers=admin).json["status"] == "failed"


def test_a_poll_with_a_known_token_skips_flask_and_answers_the_same(app, client, monkeypatch):
    media_id = finished_entry(app)
    headers = {"Authorization": f"Bearer {login(client, 'admin', ADMIN_PASSWORD)['token']}"}
    dispatched = flask_dispatches(app, monkeypatch)
    first = client.get(f"/api/media/{media_id}", headers=headers)  # a new token: Flask and the full check
    second = client.get(f"/api/media/{media_id}", headers=headers)  # the poll loop's case
    assert dispatched == [f"/api/media/{media_id}"]
    assert (first.status_code, first.json) == (second.status_code, second.json) == (200, first.json)
    assert sorted(first.headers.keys()) == sorted(second.headers.keys())
    assert first.headers["Content-Type"] == second.headers["Content-Type"] == "application/json"


def test_what_the_poll_shortcut_does_not_answer_goes_to_flask(app, client, admin, monkeypatch):
    media_id = finished_entry(app)
    client.get(f"/api/media/{media_id}", headers=admin)  # the token is known from here on
    dispatched = flask_dispatches(app, monkeypatch)
    missing = client.get("/api/media/00000000-0000-4000-8000-000000000000", headers=admin)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "NOT_FOUND"  # the envelope, from Flask
    assert client.get(f"/api/media/{media_id}").status_code == 401  # no token
    assert client.get(f"/api/media/{media_id}", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.delete(f"/api/media/{media_id}", headers=admin).status_code == 204  # other methods
    assert len(dispatched) == 4


def test_every_shortcut_stands_in_front_of_a_real_unlimited_get_route(app):
    from mediacache.shortcuts import Shortcuts

    shortcuts = app.wsgi_app.wsgi_app  # inside the request cycle
    assert isinstance(shortcuts, Shortcuts)
    get_rules = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules() if "GET" in rule.methods}
    assert [route.rule for route in shortcuts.routes] == ["/api/media/<media_id>", "/cache/<media_id>/<file_name>"]
    for route in shortcuts.routes:
        view = app.view_functions[get_rules[route.rule]]
        # A rate limit on the view would be skipped by its shortcut.
        assert getattr(view, "__wrapper-limiter-instance", None) is None
