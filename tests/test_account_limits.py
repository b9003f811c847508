"""Per-account limits an admin sets, and the ``service`` role for game servers and bots (issue 17.2)."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlencode

import pytest

from mediacache import create_app
from tests.helpers import ADMIN_PASSWORD, LiveServer, auth_header, login, make_settings


def make_account(client, admin, username: str, **fields) -> dict[str, str]:
    """Create an account through the admin API and return its Authorization headers."""
    created = client.post("/api/users", json={"username": username, "password": "account-pass-1", **fields},
                          headers=admin)  # fmt: skip
    assert created.status_code == 201, created.json
    return auth_header(login(client, username, "account-pass-1")["token"])


def queue_invalid(client, headers) -> int:
    """A queue call the limiter counts but that starts no job: its status."""
    return client.post("/api/media/queue", json={"url": "ftp://x"}, headers=headers).status_code


def test_the_user_object_shows_the_accounts_limits_null_by_default(client, admin):
    make_account(client, admin, "player")
    body = client.get("/api/users/player", headers=admin).json
    assert body["queue_per_minute"] is None and body["lookups_per_minute"] is None and body["max_pending"] is None
    assert "password_hash" not in body


def test_an_admin_sets_an_accounts_own_queue_rate(configured):
    _app, client, admin = configured(QUEUE_RATE_LIMIT="100 per minute")
    player = make_account(client, admin, "player")
    user_id = client.get("/api/users/player", headers=admin).json["id"]
    patched = client.patch(f"/api/users/{user_id}", json={"queue_per_minute": 2}, headers=admin)
    assert patched.status_code == 200 and patched.json["queue_per_minute"] == 2
    assert [queue_invalid(client, player) for _ in range(2)] == [400, 400]
    limited = client.post("/api/media/queue", json={"url": "ftp://x"}, headers=player)
    assert limited.status_code == 429 and limited.json["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) > 0


def test_zero_means_unlimited_whatever_the_servers_rate(configured):
    _app, client, admin = configured(QUEUE_RATE_LIMIT="2 per minute", LOOKUP_RATE_LIMIT="2 per minute")
    player = make_account(client, admin, "player", queue_per_minute=0, lookups_per_minute=0)
    assert {queue_invalid(client, player) for _ in range(6)} == {400}
    assert {client.get("/api/ytdlp?url=ftp://x", headers=player).status_code for _ in range(6)} == {400}


def test_null_gives_the_account_the_servers_default_again(configured):
    _app, client, admin = configured(QUEUE_RATE_LIMIT="2 per minute")
    player = make_account(client, admin, "player", queue_per_minute=0)
    assert {queue_invalid(client, player) for _ in range(3)} == {400}
    reset = client.patch("/api/users/player", json={"queue_per_minute": None}, headers=admin)
    assert reset.status_code == 200 and reset.json["queue_per_minute"] is None
    assert [queue_invalid(client, player) for _ in range(3)] == [400, 400, 429]


def test_an_admin_sets_an_accounts_own_lookup_rate(configured):
    _app, client, admin = configured(LOOKUP_RATE_LIMIT="100 per minute")
    player = make_account(client, admin, "player", lookups_per_minute=1)
    assert client.get("/api/ytdlp?url=ftp://x", headers=player).status_code == 400
    limited = client.get("/api/ytdlp?url=ftp://x", headers=player)
    assert limited.status_code == 429 and limited.json["error"]["code"] == "RATE_LIMITED"


def test_an_admin_sets_an_accounts_own_pending_cap(configured, media_server):
    _app, client, admin = configured(MAX_PENDING_PER_USER=20)
    player = make_account(client, admin, "player", max_pending=1)
    first = client.post("/api/media/queue", json={"url": media_server.url("/hang")}, headers=player)
    assert first.status_code == 201
    second = client.post("/api/media/queue", json={"url": media_server.url("/hang?n=2")}, headers=player)
    assert second.status_code == 429 and second.json["error"]["code"] == "TOO_MANY_PENDING"
    assert "limit is 1" in second.json["error"]["message"]
    client.delete(f"/api/media/{first.json['id']}?force=true", headers=player)


@pytest.mark.parametrize("value", [-1, "many", "", 1.5, 2_000_000])
def test_a_limit_that_is_no_count_is_a_400(client, admin, value):
    make_account(client, admin, "player")
    response = client.patch("/api/users/player", json={"max_pending": value}, headers=admin)
    assert response.status_code == 400 and response.json["error"]["code"] == "VALIDATION_ERROR"
    assert "max_pending" in response.json["error"]["message"]


def test_a_service_account_has_no_per_user_rate_limits_or_pending_cap(configured, media_server):
    _app, client, admin = configured(QUEUE_RATE_LIMIT="2 per minute", LOOKUP_RATE_LIMIT="2 per minute",
                                     MAX_PENDING_PER_USER=1)  # fmt: skip
    gameserver = make_account(client, admin, "gameserver", role="service")
    player = make_account(client, admin, "player")
    ids = []
    for index in range(4):
        response = client.post("/api/media/queue", json={"url": media_server.url(f"/hang?n={index}")},
                               headers=gameserver)  # fmt: skip
        assert response.status_code == 201, response.json
        ids.append(response.json["id"])
    assert {client.get("/api/ytdlp?url=ftp://x", headers=gameserver).status_code for _ in range(4)} == {400}
    # The same server limits hold for everyone else.
    assert [client.get("/api/ytdlp?url=ftp://x", headers=player).status_code for _ in range(3)] == [400, 400, 429]
    for media_id in ids:
        client.delete(f"/api/media/{media_id}?force=true", headers=gameserver)


def test_a_service_account_limit_set_by_an_admin_still_holds(configured):
    _app, client, admin = configured()
    bot = make_account(client, admin, "bot", role="service", queue_per_minute=1)
    assert [queue_invalid(client, bot) for _ in range(2)] == [400, 429]


def test_a_service_account_has_no_admin_rights(client, admin):
    gameserver = make_account(client, admin, "gameserver", role="service")
    assert client.get("/api/users", headers=gameserver).status_code == 403
    assert client.get("/api/admin/jobs", headers=gameserver).status_code == 403
    others = client.post("/api/token", json={"username": "admin"}, headers=gameserver)
    assert others.status_code == 403
    own = client.post("/api/token", json={"duration_hours": 720}, headers=gameserver)
    assert own.status_code == 200 and own.json["expires_in"] == 720 * 3600


def test_an_admin_turns_an_account_into_a_service_account(client, admin):
    make_account(client, admin, "bot")
    response = client.patch("/api/users/bot", json={"role": "service"}, headers=admin)
    assert response.status_code == 200 and response.json["role"] == "service"
    assert [u["username"] for u in client.get("/api/users?role=service", headers=admin).json["items"]] == ["bot"]


def test_a_database_from_version_3_gains_the_account_limit_columns(tmp_path):
    import sqlite3

    settings = make_settings(tmp_path)
    create_app(settings).extensions["mediacache.jobs"].shutdown()
    database = tmp_path / "instance" / "mediacache.db"
    with sqlite3.connect(database) as old:  # back to the version 3 shape of users
        for column in ("queue_per_minute", "lookups_per_minute", "max_pending"):
            old.execute(f"ALTER TABLE users DROP COLUMN {column}")
        old.execute("UPDATE schema_version SET version = 3")
    app = create_app(settings)
    client = app.test_client()
    admin = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
    patched = client.patch("/api/users/admin", json={"max_pending": 5}, headers=admin)
    assert patched.status_code == 200 and patched.json["max_pending"] == 5
    app.extensions["mediacache.jobs"].shutdown()
    with sqlite3.connect(database) as migrated:
        assert migrated.execute("SELECT version FROM schema_version").fetchone()[0] >= 4


# --- the game server's client, replayed against the real server ---------------------------------


def game_call(server: LiveServer, method: str, path: str, token: str | None = None, **params) -> object:
    """One call as the game's client makes it: parameters in the query string, a literal JSON ``null`` body,
    and only the body read back (the client never looks at the HTTP status)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    query = f"?{urlencode(params)}" if params else ""
    request = urllib.request.Request(server.base + path + query, data=b"null", method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
    return json.loads(raw) if raw else None


@pytest.fixture
def live(tmp_path):
    """The real server with its default limits, allowed to reach the loopback media server."""
    server = LiveServer(tmp_path, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD, MEDIACACHE_ALLOW_PRIVATE_URLS="true",
                        MEDIACACHE_SCHEDULER="false").start()  # fmt: skip
    yield server
    server.stop()


@pytest.mark.e2e
def test_a_service_account_survives_the_game_servers_burst_on_the_real_server(live, media_server):
    admin = game_call(live, "POST", "/api/login", username="admin", password=ADMIN_PASSWORD)["token"]
    created = game_call(live, "POST", "/api/users", admin, username="gameserver", password="game-pass-123",
                        role="service")  # fmt: skip
    assert created["role"] == "service", created
    session = game_call(live, "POST", "/api/login", username="gameserver", password="game-pass-123")["token"]
    token = game_call(live, "POST", "/api/token", session, duration_hours=720)["token"]

    # A round start: 25 songs at once (more than the default cap of 20 waiting jobs; they hang, so all stay waiting).
    answers = [game_call(live, "POST", "/api/media/queue", token, url=media_server.url(f"/hang?song={n}"),
                         extra=json.dumps({"ckey": f"player{n}"})) for n in range(25)]  # fmt: skip
    assert all(answer.get("id") for answer in answers), [a for a in answers if not a.get("id")][:1]
    assert len({answer["id"] for answer in answers}) == 25
    # 33 cassette look-ups (more than the default 30 a minute): each answer is cached as the track's metadata.
    lookups = [game_call(live, "GET", "/api/ytdlp", token, url=media_server.url("/media/tone.mp3")) for _ in range(33)]
    assert not [answer for answer in lookups if "error" in answer], lookups[-1]
    assert all(answer["title"] for answer in lookups)
    for answer in answers:
        game_call(live, "DELETE", f"/api/media/{answer['id']}", token, force="true")
