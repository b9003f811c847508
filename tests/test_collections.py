"""Collections (issue 19): a playlist, album or feed queued in one call, its items ordinary entries.

Playlists come from the loopback origin: its podcast feed, and /list.rss and /list.html, which list
the items a test names (an RSS feed of enclosures, a page of <audio> players), read by yt-dlp's own
generic extractor.
"""

from __future__ import annotations

import sqlite3
from urllib.parse import urlencode

import pytest
from sqlalchemy import create_engine, inspect, text

from mediacache import create_app
from mediacache.core import names
from mediacache.core.principal import Principal
from mediacache.db.collection_tables import create_collection_tables
from mediacache.media import collections
from tests.helpers import ADMIN_PASSWORD, LiveServer, auth_header, eventually, login, make_settings, wait_for_entry

ITEMS = ["/media/tone.mp3", "/media/other.mp3", "/media/tone.mp3", "/status/404"]


def listing(media_server, kind: str, items: list[str]) -> str:
    """A playlist URL on the loopback origin listing ``items`` in order (kind: rss or html)."""
    return media_server.url(f"/list.{kind}?" + urlencode([("item", item) for item in items]))


def create(client, headers, url: str, **params):
    return client.post("/api/collections", json={"url": url, **params}, headers=headers)


def player_headers(client, admin_headers) -> dict[str, str]:
    """A plain user's headers (an admin made the account)."""
    client.post("/api/users", json={"username": "player", "password": "player-pass-1"}, headers=admin_headers)
    return auth_header(login(client, "player", "player-pass-1")["token"])


def release_until_done(client, headers, media_server, entry_ids, timeout: float = 90) -> None:
    """Let /gated/ downloads go on (each request held half-way, whenever it arrives) until these entries end."""
    for entry_id in entry_ids:
        wait_for_entry(client, entry_id, headers, until=("completed", "failed"), timeout=timeout,
                       meanwhile=media_server.release_gated)  # fmt: skip


def finished(client, headers, collection: dict) -> dict:
    """The collection once every item's job has ended (polling each entry as a game server does)."""
    for entry_id in {item["entry_id"] for item in collection["items"] if item["entry_id"]}:
        wait_for_entry(client, entry_id, headers)
    return client.get(f"/api/collections/{collection['id']}", headers=headers).json


def test_the_podcast_feed_becomes_one_entry_per_episode_in_order(client, admin, media_server):
    response = create(client, admin, media_server.url("/feed.rss"), profile="ogg-opus", ttl=600)
    assert response.status_code == 201, response.json
    body = response.json
    assert response.headers["Location"] == f"/api/collections/{body['id']}"
    assert body["title"] == "Test Podcast" and body["requested_by"] == "admin"
    assert body["options"]["profile"] == "ogg-opus" and body["options"]["ttl"] == 600
    assert [item["position"] for item in body["items"]] == [1, 2, 3]
    assert [item["title"] for item in body["items"]] == ["Episode 1", "Episode 2", "Episode 3"]
    assert [item["url"] for item in body["items"]] == [media_server.url(f"/media/episode{i}.mp3") for i in (1, 2, 3)]
    assert body["totals"]["total"] == 3
    done = finished(client, admin, body)
    assert done["totals"] == {"completed": 3, "failed": 0, "pending": 0, "total": 3}
    for item in done["items"]:
        entry = client.get(f"/api/media/{item['entry_id']}", headers=admin).json
        # Ordinary entries: polled, served, with the collection's parameters.
        assert entry["status"] == "completed" and entry["profile"] == "ogg-opus" and entry["ttl"] == 600
        assert item["valid"] and item["endpoints"] == entry["endpoints"]
        assert client.get(entry["path"]).status_code == 200


def test_a_duplicate_item_shares_its_entry_and_a_failing_item_fails_alone(client, admin, media_server):
    body = create(client, admin, listing(media_server, "rss", ITEMS)).json
    entry_ids = [item["entry_id"] for item in body["items"]]
    assert entry_ids[0] == entry_ids[2] and len(set(entry_ids)) == 3
    done = finished(client, admin, body)
    assert [item["status"] for item in done["items"]] == ["completed", "completed", "completed", "failed"]
    assert done["items"][3]["error"]["code"] == "MEDIA_UNAVAILABLE"
    assert done["totals"] == {"completed": 3, "failed": 1, "pending": 0, "total": 4}
    # One job fetched the duplicate: as many requests as for the other file.
    assert media_server.downloads("/media/tone.mp3") == media_server.downloads("/media/other.mp3")


def test_a_page_of_audio_players_is_a_collection_of_its_files(client, admin, media_server):
    body = create(client, admin, listing(media_server, "html", ITEMS)).json
    assert body["title"] == "A Page Of Songs"
    assert [item["url"] for item in body["items"]] == [media_server.url(path) for path in ITEMS]
    assert body["items"][0]["entry_id"] == body["items"][2]["entry_id"]
    done = finished(client, admin, body)
    assert done["totals"] == {"completed": 3, "failed": 1, "pending": 0, "total": 4}
    # The finished entry's own tags replace what the listing said.
    assert (done["items"][1]["title"], done["items"][1]["artist"]) == ("Other Song", "Test Artist")


def test_totals_move_as_items_complete(client, admin, media_server):
    body = create(client, admin, listing(media_server, "rss", ["/media/tone.mp3", "/gated/other.mp3"])).json
    held = body["items"][1]["entry_id"]
    wait_for_entry(client, body["items"][0]["entry_id"], admin)
    wait_for_entry(client, held, admin, until=("downloading",))
    middle = client.get(f"/api/collections/{body['id']}", headers=admin).json
    assert middle["totals"] == {"completed": 1, "failed": 0, "pending": 1, "total": 2}
    assert middle["items"][1]["status"] == "downloading"
    release_until_done(client, admin, media_server, [held])
    assert finished(client, admin, body)["totals"] == {"completed": 2, "failed": 0, "pending": 0, "total": 2}


def test_the_m3u8_lists_the_served_files_in_order_with_lengths_and_names(client, admin, media_server):
    body = finished(client, admin, create(client, admin, listing(media_server, "rss", ITEMS)).json)
    response = client.get(f"/api/collections/{body['id']}.m3u8", headers=admin)
    assert response.status_code == 200 and response.mimetype == "audio/x-mpegurl"
    lines = response.get_data(as_text=True).splitlines()
    served = [item for item in body["items"] if item["valid"]]
    assert lines[:2] == ["#EXTM3U", "#PLAYLIST:Test List"]
    assert lines[2:] == [
        line for item in served for line in (f"#EXTINF:3,{item['artist']} - {item['title']}", item["endpoints"][0])
    ]
    assert lines[2] == "#EXTINF:3,Test Artist - Sine Song" and lines[3].startswith("http://localhost/cache/")
    assert len(served) == 3  # the duplicate twice, in its place; the failed item not at all
    assert client.get(lines[3]).status_code == 200


def test_a_title_for_an_m3u8_line_or_the_api_cannot_break_a_line():
    assert names.one_line("Song\r\n#EXTINF:1,evil\u2028x\x00\u202e") == "Song  #EXTINF:1,evil x  "
    assert (
        names.one_line(" one\n#EXTINF:-1,pwn\r\nhttp://evil/x.mp3\r").strip() == "one #EXTINF:-1,pwn  http://evil/x.mp3"
    )


def test_more_items_than_the_limit_is_400_with_the_count(configured, media_server):
    _app, client, headers = configured(MAX_COLLECTION_ITEMS=2)
    response = create(client, headers, media_server.url("/feed.rss"))
    assert response.status_code == 400 and response.json["error"]["code"] == "TOO_MANY_ITEMS"
    assert response.json["error"]["details"] == {"count": 3, "max_items": 2}
    assert "3 items" in response.json["error"]["message"]
    assert client.get("/api/media", headers=headers).json["pagination"]["total"] == 0  # nothing was queued
    assert client.get("/api").json["limits"]["max_collection_items"] == 2


def test_an_empty_feed_is_422(client, admin, media_server):
    response = create(client, admin, listing(media_server, "rss", []))
    assert response.status_code == 422 and response.json["error"]["code"] == "EMPTY_COLLECTION"


def test_a_url_of_one_item_is_a_collection_of_one(client, admin, media_server):
    body = create(client, admin, media_server.url("/media/tone.mp3")).json
    assert [item["url"] for item in body["items"]] == [media_server.url("/media/tone.mp3")]
    assert finished(client, admin, body)["totals"]["completed"] == 1


def test_items_reuse_existing_entries_and_restore_retained_ones(client, admin, media_server):
    first = finished(client, admin, create(client, admin, listing(media_server, "rss", ["/media/tone.mp3"])).json)
    entry_id = first["items"][0]["entry_id"]
    assert client.delete(f"/api/media/{entry_id}", headers=admin).status_code == 204
    downloads = media_server.downloads("/media/tone.mp3")
    again = create(client, admin, listing(media_server, "rss", ["/media/tone.mp3", "/media/other.mp3"])).json
    assert again["items"][0]["entry_id"] == entry_id
    assert again["items"][0]["status"] == "completed" and again["items"][0]["valid"]  # restored, not downloaded
    assert media_server.downloads("/media/tone.mp3") == downloads


def test_bad_parameters_are_refused_before_anything_is_fetched(client, admin, media_server):
    cases = [
        ({"url": media_server.url("/feed.rss"), "profile": "ogg"}, 400, "INVALID_PROFILE"),
        ({"url": media_server.url("/feed.rss"), "ttl": 0}, 400, "INVALID_TTL"),
        ({"url": "ftp://example.org/feed"}, 400, "UNSUPPORTED_SCHEME"),
        ({"url": "not a url"}, 400, "INVALID_URL"),
        ({}, 400, "INVALID_URL"),
    ]
    for params, status, code in cases:
        response = client.post("/api/collections", json=params, headers=admin)
        assert (response.status_code, response.json["error"]["code"]) == (status, code), params
    assert media_server.requests == []


def test_private_targets_are_refused_with_the_network_guard(configured, media_server):
    _app, client, headers = configured(ALLOW_PRIVATE_URLS=False)
    response = create(client, headers, media_server.url("/feed.rss"))
    assert response.status_code == 403 and response.json["error"]["code"] == "URL_NOT_ALLOWED"
    assert media_server.requests == []


def test_a_listing_that_hangs_ends_at_the_lookup_time_limit(configured, media_server):
    _app, client, headers = configured(LOOKUP_TIMEOUT=1)
    response = create(client, headers, media_server.url("/hang"))
    assert response.status_code == 504 and response.json["error"]["code"] == "UPSTREAM_TIMEOUT"


def test_a_collection_counts_once_against_the_pending_cap(configured, media_server):
    _app, client, admin_headers = configured(MAX_PENDING_PER_USER=2)
    headers = player_headers(client, admin_headers)
    # Two downloads held half-way keep both workers busy, so the other two wait.
    items = ["/gated/tone.mp3", "/gated/other.mp3", "/media/episode1.mp3", "/media/episode2.mp3"]
    response = create(client, headers, listing(media_server, "rss", items))
    # Four jobs for a cap of two: the collection is one call.
    assert response.status_code == 201 and all(item["entry_id"] for item in response.json["items"])
    # Now four are waiting or running: the next call is over the cap, like a single queue call.
    again = create(client, headers, listing(media_server, "rss", ["/media/tone.mp3"]))
    assert again.status_code == 429 and again.json["error"]["code"] == "TOO_MANY_PENDING"
    release_until_done(client, headers, media_server, [item["entry_id"] for item in response.json["items"]])
    assert create(client, headers, listing(media_server, "rss", ["/media/tone.mp3"])).status_code == 201


def test_a_collection_is_one_call_of_the_queue_rate(configured, media_server):
    _app, client, admin_headers = configured(QUEUE_RATE_LIMIT="2 per hour")
    headers = player_headers(client, admin_headers)
    url = listing(media_server, "rss", ITEMS)
    assert [create(client, headers, url).status_code for _ in range(2)] == [201, 201]
    limited = create(client, headers, url)
    assert limited.status_code == 429 and limited.json["error"]["code"] == "RATE_LIMITED"


def test_delete_with_entries_keeps_those_another_collection_holds(client, admin, media_server):
    first = finished(client, admin, create(client, admin, listing(media_server, "rss", ITEMS[:2])).json)
    second = create(client, admin, listing(media_server, "rss", ITEMS[1:2])).json
    tone, other = first["items"][0]["entry_id"], first["items"][1]["entry_id"]
    assert second["items"][0]["entry_id"] == other
    response = client.delete(f"/api/collections/{first['id']}?entries=true", headers=admin)
    assert response.status_code == 200, response.json
    assert response.json["entries_deleted"] == [tone]
    assert [skipped["error"]["code"] for skipped in response.json["entries_skipped"]] == ["IN_ANOTHER_COLLECTION"]
    assert client.get(f"/api/collections/{first['id']}", headers=admin).status_code == 404
    assert client.get(f"/api/media/{tone}", headers=admin).json["cache_state"] == "deleted"
    assert client.get(f"/api/media/{other}", headers=admin).json["valid"] is True
    assert client.get(f"/api/collections/{second['id']}", headers=admin).json["items"][0]["valid"] is True


def test_delete_without_entries_leaves_them_served(client, admin, media_server):
    body = finished(client, admin, create(client, admin, listing(media_server, "rss", ITEMS[:1])).json)
    response = client.delete(f"/api/collections/{body['id']}", headers=admin)
    assert response.status_code == 200 and response.json["entries_deleted"] == []
    assert client.get(f"/api/media/{body['items'][0]['entry_id']}", headers=admin).json["valid"] is True


def test_a_user_sees_only_their_own_collections_and_an_admin_any(client, admin, user, media_server):
    mine = create(client, user, listing(media_server, "rss", ITEMS[:1])).json
    theirs = create(client, admin, listing(media_server, "rss", ITEMS[1:2])).json
    for path in (f"/api/collections/{theirs['id']}", f"/api/collections/{theirs['id']}.m3u8"):
        response = client.get(path, headers=user)
        assert response.status_code == 404 and response.json["error"]["code"] == "NOT_FOUND", path
    assert client.delete(f"/api/collections/{theirs['id']}", headers=user).status_code == 404
    assert [c["id"] for c in client.get("/api/collections", headers=user).json["items"]] == [mine["id"]]
    assert client.get(f"/api/collections/{mine['id']}", headers=admin).status_code == 200
    assert client.get("/api/collections/no-such-id", headers=user).status_code == 404
    assert client.get("/api/collections", headers={}).status_code == 401


def test_the_listing_is_paginated_newest_first_with_totals(client, admin, media_server):
    ids = [create(client, admin, listing(media_server, "rss", ITEMS[:n])).json["id"] for n in (1, 2, 3)]
    page = client.get("/api/collections?limit=2", headers=admin).json
    assert [c["id"] for c in page["items"]] == ids[::-1][:2]
    assert page["pagination"] == {"page": 1, "limit": 2, "total": 3, "pages": 2, "has_next": True, "has_prev": False}
    assert [c["totals"]["total"] for c in page["items"]] == [3, 2]
    assert "items" not in page["items"][0]


def test_the_queue_route_points_playlists_at_collections(client, admin):
    response = client.post("/api/media/queue", json={"url": "https://www.youtube.com/playlist?list=PL1"}, headers=admin)
    assert response.status_code == 400 and response.json["error"]["code"] == "PLAYLIST_NOT_SUPPORTED"
    assert "POST /api/collections" in response.json["error"]["message"]


def test_a_database_from_before_collections_gets_its_tables(tmp_path):
    settings = make_settings(tmp_path)
    create_app(settings).extensions["mediacache.jobs"].shutdown()
    database = tmp_path / "instance" / "mediacache.db"
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TABLE collection_items")
        connection.execute("DROP TABLE collections")
        connection.execute("UPDATE schema_version SET version = 5")
    app = create_app(settings)
    app.extensions["mediacache.jobs"].shutdown()
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"collections", "collection_items"} <= tables
        assert connection.execute("SELECT version FROM schema_version").fetchone()[0] >= 7
        indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"ix_collections_user_created", "ix_collection_items_media_id"} <= indexes


def test_the_migration_step_creates_the_tables_once(tmp_path):
    create_app(make_settings(tmp_path)).extensions["mediacache.jobs"].shutdown()
    engine = create_engine(f"sqlite:///{tmp_path / 'instance' / 'mediacache.db'}")
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE collection_items"))
        connection.execute(text("DROP TABLE collections"))
    for _ in range(2):
        with engine.begin() as connection:
            create_collection_tables(connection)
    assert {"collections", "collection_items"} <= set(inspect(engine).get_table_names())
    engine.dispose()


@pytest.mark.parametrize("marked", [5, 6])
def test_the_migration_skips_tables_that_are_already_there(tmp_path, marked):
    settings = make_settings(tmp_path)
    create_app(settings).extensions["mediacache.jobs"].shutdown()
    with sqlite3.connect(tmp_path / "instance" / "mediacache.db") as connection:
        connection.execute("UPDATE schema_version SET version = ?", (marked,))
    create_app(settings).extensions["mediacache.jobs"].shutdown()  # no "table already exists"


def test_an_entry_removed_for_good_shows_as_a_failed_item(client, admin, media_server):
    body = finished(client, admin, create(client, admin, listing(media_server, "rss", ITEMS[:2])).json)
    removed = body["items"][0]["entry_id"]
    assert client.delete(f"/api/media/{removed}?hard=entry", headers=admin).status_code == 204
    after = client.get(f"/api/collections/{body['id']}", headers=admin).json
    assert (after["items"][0]["entry_id"], after["items"][0]["status"]) == (None, "failed")
    assert after["items"][0]["error"]["code"] == "NOT_FOUND"
    assert after["totals"] == {"completed": 1, "failed": 1, "pending": 0, "total": 2}


def test_deleting_an_account_deletes_its_collections_not_their_entries(client, admin, user, media_server):
    body = create(client, user, listing(media_server, "rss", ITEMS[:1])).json
    assert client.delete("/api/users/player", headers=admin).status_code == 200
    assert client.get(f"/api/collections/{body['id']}", headers=admin).status_code == 404
    assert client.get(f"/api/media/{body['items'][0]['entry_id']}", headers=admin).status_code == 200


def test_the_document_describes_the_collection_routes(client):
    paths = client.get("/api/openapi.json").json["paths"]
    post = paths["/api/collections"]["post"]
    assert {"url", "profile", "bitrate", "ttl", "extra"} <= {p["name"] for p in post["parameters"]}
    assert "TOO_MANY_ITEMS" in post["responses"]["400"]["description"]
    assert "UPSTREAM_TIMEOUT" in post["responses"]["504"]["description"]
    assert post["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Collection"
    }
    assert {"page", "limit"} <= {p["name"] for p in paths["/api/collections"]["get"]["parameters"]}
    assert "audio/x-mpegurl" in paths["/api/collections/{collection_id}.m3u8"]["get"]["responses"]["200"]["content"]
    assert {"entries", "force"} <= {
        p["name"] for p in paths["/api/collections/{collection_id}"]["delete"]["parameters"]
    }


def test_items_not_reached_by_the_deadline_are_kept_as_timed_out(app):
    """The bound on queueing (a listing of hosts whose DNS hangs): past it, items are recorded, not queued."""
    caller = Principal(id=1, username="admin", email=None, role="admin", active=True, token_version=0, token_key="k")
    with app.app_context():
        item = collections._queued(caller, {}, 1, {"url": "https://music.example/a.mp3"}, "https://x.example/", 0.0)
    assert (item.media_id, item.error_code, item.url) == (None, "TIMEOUT", "https://music.example/a.mp3")


def test_delete_with_entries_skips_running_jobs_unless_forced(client, admin, media_server):
    kept = create(client, admin, listing(media_server, "rss", ["/gated/tone.mp3"])).json
    running = kept["items"][0]["entry_id"]
    wait_for_entry(client, running, admin, until=("downloading",))
    response = client.delete(f"/api/collections/{kept['id']}?entries=true", headers=admin).json
    assert response["entries_deleted"] == [] and response["entries_skipped"][0]["error"]["code"] == "JOB_RUNNING"
    forced = create(client, admin, listing(media_server, "rss", ["/gated/tone.mp3"])).json
    assert forced["items"][0]["entry_id"] == running
    response = client.delete(f"/api/collections/{forced['id']}?entries=true&force=true", headers=admin).json
    assert response["entries_deleted"] == [running]
    release_until_done(client, admin, media_server, [running])
    assert client.get(f"/api/media/{running}", headers=admin).json["error"]["code"] == "CANCELLED"


def test_delete_with_entries_leaves_entries_the_caller_may_not_delete(client, admin, user, media_server):
    theirs = finished(client, admin, create(client, admin, listing(media_server, "rss", ITEMS[:1])).json)
    mine = create(client, user, listing(media_server, "rss", ITEMS[:1])).json
    assert client.delete(f"/api/collections/{theirs['id']}", headers=admin).status_code == 200
    response = client.delete(f"/api/collections/{mine['id']}?entries=true", headers=user).json
    assert [skipped["error"]["code"] for skipped in response["entries_skipped"]] == ["FORBIDDEN"]
    assert client.get(f"/api/media/{mine['items'][0]['entry_id']}", headers=user).json["valid"] is True


@pytest.mark.e2e
def test_a_game_server_plays_a_feed_through_the_real_server(tmp_path, media_server):
    """Over real HTTP: one call for the feed, poll its entries, hand the M3U's public URLs to players."""
    server = LiveServer(
        tmp_path, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD, MEDIACACHE_ALLOW_PRIVATE_URLS="true",
        MEDIACACHE_SCHEDULER="false", MEDIACACHE_PUBLIC_URL="https://media.example.org",
    ).start()  # fmt: skip
    try:
        token = server("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})[2]["token"]
        headers = auth_header(token)
        status, response_headers, body = server("POST", "/api/collections?url=" + media_server.url("/feed.rss"),
                                                body=None, headers=headers, timeout=60)  # fmt: skip
        assert status == 201, body
        assert response_headers["Location"] == f"/api/collections/{body['id']}"
        path = f"/api/collections/{body['id']}"
        current = eventually(
            lambda: None if (now := server("GET", path, headers=headers)[2])["totals"]["pending"] else now, timeout=90
        )
        assert current["totals"] == {"completed": 3, "failed": 0, "pending": 0, "total": 3}
        status, response_headers, playlist = server("GET", f"/api/collections/{body['id']}.m3u8", headers=headers)
        lines = playlist.decode().splitlines()
        assert status == 200 and response_headers.get_content_type() == "audio/x-mpegurl"
        files = [line for line in lines if not line.startswith("#")]
        assert len(files) == 3 and all(line.startswith("https://media.example.org/cache/") for line in files)
        # The same file at the server's own address (the public URL is a proxy's in production).
        assert server("GET", files[0].removeprefix("https://media.example.org"))[0] == 200
    finally:
        server.stop()
