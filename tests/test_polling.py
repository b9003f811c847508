"""GET /api/media/<id> as a game server uses it: many polls a second, each answer current."""

from __future__ import annotations

import json
import time

import pytest

from mediacache.core.timeutil import utcnow
from mediacache.db.extensions import db
from mediacache.db.models import Media
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


@pytest.mark.parametrize("host", ["a/b?c#d", "@evil", "127.0.0.1:99999", "a b"])
def test_a_host_header_no_server_could_have_falls_back_to_the_servers_own_name(app, client, admin, host):
    """Endpoints built from such a header read "http:/cache/…"; a request without one gets the server's name."""
    media_id = finished_entry(app)
    body = client.get(f"/api/media/{media_id}", headers={**admin, "Host": host}).json
    assert body["endpoints"][0] == client.get(f"/api/media/{media_id}", headers=admin).json["endpoints"][0]
    assert body["endpoints"][0].startswith("http://localhost/cache/")


def test_a_poll_after_a_change_shows_the_change(app, client, admin):
    media_id = finished_entry(app)
    assert client.get(f"/api/media/{media_id}", headers=admin).json["cache_state"] == "live"
    assert client.delete(f"/api/media/{media_id}", headers=admin).status_code == 204
    body = client.get(f"/api/media/{media_id}", headers=admin).json
    assert (body["cache_state"], body["valid"]) == ("deleted", False)


def test_a_poll_right_after_a_job_commits_sees_the_commit(app, client, admin):
    import threading

    from mediacache.db import media_repo

    media_id = finished_entry(app)
    written, polled = threading.Event(), threading.Event()

    def job() -> None:
        """A job's write: made, then committed a moment later (in its own thread and session, as a job does)."""
        with app.app_context():
            media_repo.change(media_id, status="failed")
            written.set()
            polled.wait(10)
            db.session.commit()
            db.session.remove()

    worker = threading.Thread(target=job)
    worker.start()
    assert written.wait(10)
    # A poll between the write and its commit still sees the old row, which is right…
    assert client.get(f"/api/media/{media_id}", headers=admin).json["status"] == "completed"
    polled.set()
    worker.join(10)
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
    from mediacache.web.fastpath import Shortcuts

    shortcuts = app.extensions["mediacache.shortcuts"]  # inside the request cycle and CORS
    assert isinstance(shortcuts, Shortcuts)
    get_rules = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules() if "GET" in rule.methods}
    assert [route.rule for route in shortcuts.routes] == [
        "/api/media/<media_id>", "/cache/<media_id>/<file_name>", "/api", "/api/"]  # fmt: skip
    for route in shortcuts.routes:
        view = app.view_functions[get_rules[route.rule]]
        # A rate limit on the view would be skipped by its shortcut.
        assert getattr(view, "__wrapper-limiter-instance", None) is None


def _offered_on_main_loop(app, path: str, headers: dict[str, str], method: str = "GET"):
    """What the app does with a request the server offers it on its main loop: (status, headers, body)."""
    from werkzeug.test import EnvironBuilder

    from mediacache.patches.waitress import ON_MAIN_LOOP

    environ = EnvironBuilder(path=path, method=method, headers=headers).get_environ()
    environ[ON_MAIN_LOOP] = True
    started = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: started.append((status, dict(headers)))))
    return started[0][0], started[0][1], body


# wait=+3 is refused (400), wait=3 long-polls (a finished entry: 200 at once); both only by the view.
@pytest.mark.parametrize(("query", "status"), [("wait=%2B3", 400), ("wa%69t=%2B3", 400), ("%77ait=3", 200)])
def test_a_long_poll_however_its_name_is_escaped_goes_to_the_view(app, client, admin, monkeypatch, query, status):
    """The view decodes ``wa%69t`` to ``wait``: the shortcut, the main loop and the server's threads must see it too."""
    from mediacache.patches.waitress import NeedsThread
    from mediacache.web.routes.events import waits_for_long

    media_id = finished_entry(app)
    client.get(f"/api/media/{media_id}", headers=admin)  # the token and the entry are in memory now
    path = f"/api/media/{media_id}?{query}"
    assert waits_for_long(f"/api/media/{media_id}", query)  # a thread of the pool for waiting requests
    with pytest.raises(NeedsThread):
        _offered_on_main_loop(app, path, admin)
    dispatched = flask_dispatches(app, monkeypatch)
    response = client.get(path, headers=admin)
    assert dispatched == [f"/api/media/{media_id}"]
    assert response.status_code == status


def test_a_poll_memory_can_answer_is_answered_on_the_main_loop_as_flask_would(app, client, admin, monkeypatch):
    media_id = finished_entry(app)
    by_flask = client.get(f"/api/media/{media_id}", headers=admin)  # the token and the entry are in memory now
    dispatched = flask_dispatches(app, monkeypatch)
    status, headers, body = _offered_on_main_loop(app, f"/api/media/{media_id}", admin)
    assert dispatched == []
    assert (status, json.loads(body)) == ("200 OK", by_flask.json)
    assert headers["Content-Type"] == "application/json" and int(headers["Content-Length"]) == len(body)
    assert {"X-Request-ID", "Content-Security-Policy", "X-Content-Type-Options"} <= headers.keys()  # the request cycle
    status, headers, body = _offered_on_main_loop(app, f"/api/media/{media_id}", admin, method="HEAD")
    assert (status, body, int(headers["Content-Length"])) == ("200 OK", b"", len(by_flask.data))


def test_what_memory_cannot_answer_on_the_main_loop_goes_to_a_thread(app, client, admin, monkeypatch):
    from mediacache.patches.waitress import NeedsThread

    media_id = finished_entry(app)
    file_path = client.get(f"/api/media/{media_id}", headers=admin).json["path"]
    fresh_token = {"Authorization": f"Bearer {login(client, 'admin', ADMIN_PASSWORD)['token']}"}
    dispatched = flask_dispatches(app, monkeypatch)
    for path, headers in [
        (f"/api/media/{media_id}", fresh_token),  # a token never checked here: only the full check may accept it
        (f"/api/media/{media_id}", {}),  # no token: Flask's 401
        ("/api/media/00000000-0000-4000-8000-000000000000", admin),  # no such entry: Flask's 404
        (file_path, {}),  # a file: read from disk, never on the loop
        ("/api/users/me", admin),
    ]:
        with pytest.raises(NeedsThread):
            _offered_on_main_loop(app, path, headers)
    assert dispatched == []  # nothing was answered, or half-answered, on the loop


def test_a_token_revoked_here_is_refused_at_once_on_the_main_loop_too(app, client, monkeypatch):
    from mediacache.patches.waitress import NeedsThread

    media_id = finished_entry(app)
    session = login(client, "admin", ADMIN_PASSWORD)
    headers = {"Authorization": f"Bearer {session['token']}"}
    assert client.get(f"/api/media/{media_id}", headers=headers).status_code == 200
    assert _offered_on_main_loop(app, f"/api/media/{media_id}", headers)[0] == "200 OK"
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    with pytest.raises(NeedsThread):
        _offered_on_main_loop(app, f"/api/media/{media_id}", headers)
    assert client.get(f"/api/media/{media_id}", headers=headers).json["error"]["code"] == "TOKEN_REVOKED"


def test_a_stale_snapshot_is_read_afresh_by_one_poll_while_the_others_answer_from_memory(app, client, admin):
    """Each second the entry is read again (a change made by another process shows), but by one poll, not all."""
    import sqlite3

    from mediacache.media.render import SNAPSHOT_LIFETIME, row_cache
    from mediacache.patches.waitress import NeedsThread

    media_id = finished_entry(app)
    poll = f"/api/media/{media_id}"
    assert client.get(poll, headers=admin).json["size_bytes"] == 1000
    with app.app_context():
        database = db.engine.url.database
        cache = row_cache(app)
    with sqlite3.connect(database) as other_process:  # a write this process cannot see happen
        other_process.execute("UPDATE media SET size_bytes = 2000 WHERE id = ?", (media_id,))
    cache.clock = lambda: time.monotonic() + SNAPSHOT_LIFETIME  # the snapshot's second is over
    with pytest.raises(NeedsThread):
        _offered_on_main_loop(app, poll, admin)  # this poll goes to a thread to read the entry again…
    for _ in range(3):  # …and meanwhile the others are answered from the old snapshot
        assert json.loads(_offered_on_main_loop(app, poll, admin)[2])["size_bytes"] == 1000
    assert client.get(poll, headers=admin).json["size_bytes"] == 2000  # the thread's answer reads the database
    assert json.loads(_offered_on_main_loop(app, poll, admin)[2])["size_bytes"] == 2000


def test_a_stale_account_is_read_afresh_by_one_poll_while_the_others_answer_from_memory(app, client, admin):
    from flask_jwt_extended import decode_token

    from mediacache.accounts.authcache import LIFETIME, auth_cache
    from mediacache.patches.waitress import NeedsThread

    media_id = finished_entry(app)
    poll = f"/api/media/{media_id}"
    assert client.get(poll, headers=admin).status_code == 200
    cache = auth_cache(app)
    cache.clock = lambda: time.monotonic() + LIFETIME  # the account's seconds are over…
    with app.app_context():
        token = decode_token(admin["Authorization"].removeprefix("Bearer "))
        assert not cache.is_revoked(token["jti"])  # …the revoked tokens' too, but they are read afresh here
    assert cache.vouches_for(token) is None  # memory alone no longer vouches for the account…
    with pytest.raises(NeedsThread):
        _offered_on_main_loop(app, poll, admin)  # this poll goes to a thread to read the account again…
    assert _offered_on_main_loop(app, poll, admin)[0] == "200 OK"  # …the others go on from memory meanwhile
    assert client.get(poll, headers=admin).status_code == 200  # the thread's answer reads the account
    assert cache.vouches_for(token) is not None  # …and now it does again: the account was read afresh


def test_a_claim_to_read_a_stale_entry_afresh_lapses_if_its_reader_never_does():
    from mediacache.core.refreshing import Refreshing

    now = [0.0]
    refreshing = Refreshing(patience=1.0, clock=lambda: now[0])
    assert refreshing.may_use("entry", fresh=True, or_stale=False)
    assert not refreshing.may_use("entry", fresh=False, or_stale=False)  # without or_stale: always read
    assert not refreshing.may_use("entry", fresh=False, or_stale=True)  # the first caller reads it…
    assert refreshing.may_use("entry", fresh=False, or_stale=True)  # …the others keep the stale value
    assert refreshing.may_use("other", fresh=False, or_stale=True) is False  # claims are per entry
    assert refreshing.may_use("entry", fresh=False, or_stale=True)  # within its patience the claim holds…
    now[0] += 1.01  # …the reader failed: after its patience, the next caller reads instead
    assert not refreshing.may_use("entry", fresh=False, or_stale=True)


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive_on_a_poll_and_a_normal_route(app, client, monkeypatch, scheme):
    """RFC 9110 §11.1: the auth scheme is case-insensitive."""
    media_id = finished_entry(app)
    headers = {"Authorization": f"{scheme} {login(client, 'admin', ADMIN_PASSWORD)['token']}"}
    dispatched = flask_dispatches(app, monkeypatch)
    first = client.get(f"/api/media/{media_id}", headers=headers)  # a new token: Flask and the full check
    second = client.get(f"/api/media/{media_id}", headers=headers)  # the poll loop's shortcut
    assert first.status_code == second.status_code == 200 and first.json == second.json
    assert dispatched == [f"/api/media/{media_id}"]
    assert client.get("/api/users/me", headers=headers).json["username"] == "admin"
    assert client.get("/api/users", headers=headers).status_code == 200
