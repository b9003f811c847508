"""GET|POST /api/ytdlp: metadata without downloading."""

from __future__ import annotations

import json

from tests.helpers import YtdlpDebugLog


def test_single_file_gives_one_metadata_object(client, admin, media_server):
    response = client.get("/api/ytdlp", query_string={"url": media_server.url("/media/tone.mp3")}, headers=admin)
    assert response.status_code == 200
    assert response.json["url"] == media_server.url("/media/tone.mp3")
    assert {"title", "artist", "album", "albumArtist", "year", "genre", "duration"} <= response.json.keys()


def test_feed_gives_a_list_of_items_with_their_urls(client, admin, media_server):
    response = client.post("/api/ytdlp", json={"url": media_server.url("/feed.rss")}, headers=admin)
    assert response.status_code == 200
    items = response.json
    assert [item["title"] for item in items] == ["Episode 1", "Episode 2", "Episode 3"]
    assert items[0]["url"] == media_server.url("/media/episode1.mp3")


def test_raw_gives_yt_dlps_own_json(client, admin, media_server):
    response = client.get(
        "/api/ytdlp", query_string={"url": media_server.url("/feed.rss"), "raw": "true"}, headers=admin
    )
    assert response.json["_type"] == "playlist" and len(response.json["entries"]) == 3


def test_a_repeat_lookup_is_answered_from_the_cache(client, admin, media_server):
    url = media_server.url("/page.html")
    client.get("/api/ytdlp", query_string={"url": url}, headers=admin)
    seen = len(media_server.requests)
    client.get("/api/ytdlp", query_string={"url": url}, headers=admin)
    assert len(media_server.requests) == seen


def test_lookup_by_entry_id(client, admin, media_server):
    from tests.helpers import wait_for_entry

    queued = client.post("/api/media/queue", json={"url": media_server.url("/media/other.mp3")}, headers=admin).json
    wait_for_entry(client, queued["id"], admin)
    response = client.get(f"/api/ytdlp/{queued['id']}", headers=admin)
    assert response.status_code == 200 and response.json["url"] == media_server.url("/media/other.mp3")
    assert client.get("/api/ytdlp/not-an-id!", headers=admin).json["error"]["code"] == "INVALID_URL"


def test_failures_map_to_api_codes(client, admin, media_server):
    missing = client.get("/api/ytdlp", query_string={"url": media_server.url("/status/404")}, headers=admin)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "MEDIA_UNAVAILABLE"
    broken = client.get("/api/ytdlp", query_string={"url": media_server.url("/status/503")}, headers=admin)
    assert broken.status_code == 502 and broken.json["error"]["code"] == "UPSTREAM_ERROR"
    bad = client.get("/api/ytdlp", query_string={"url": "ftp://x"}, headers=admin)
    assert bad.status_code == 400 and bad.json["error"]["code"] == "UNSUPPORTED_SCHEME"


def test_lookup_needs_a_token(client, media_server):
    assert client.get("/api/ytdlp", query_string={"url": media_server.url("/media/tone.mp3")}).status_code == 401


def test_jobs_share_one_tls_context_instead_of_loading_the_ca_bundle_each_time():
    from yt_dlp.networking import common

    import mediacache.sources.ytdlp_downloader  # noqa: F401 — importing it sets this up

    assert common.make_ssl_context(verify=True) is common.make_ssl_context(verify=True)
    assert common.make_ssl_context(verify=True) is not common.make_ssl_context(verify=False)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _info(items: int) -> dict:
    return {
        "_type": "playlist",
        "entries": [{"title": f"Episode {i}", "url": f"https://x/{i}.mp3"} for i in range(items)],
    }


def test_the_lookup_cache_evicts_the_oldest_answers_to_stay_within_its_byte_budget():
    from mediacache.media.lookup import LookupCache

    cache = LookupCache()
    budget = 3 * len(json.dumps(_info(100))) + 10
    for n in range(5):
        cache.put(f"feed{n}", _info(100), budget)
    assert cache.total_bytes <= budget and len(cache) == 3
    assert cache.get("feed0") is None and cache.get("feed1") is None
    assert cache.get("feed4") == _info(100)
    cache.put("huge", _info(5000), budget)  # larger than the whole budget: not kept, nothing evicted for it
    assert cache.get("huge") is None and len(cache) == 3


def test_the_lookup_cache_drops_expired_answers_on_access_and_on_insert():
    from mediacache.media.lookup import LookupCache

    clock = FakeClock()
    cache = LookupCache(ttl=300, clock=clock)
    cache.put("old", _info(10), 10**9)
    cache.put("older", _info(10), 10**9)
    assert cache.get("old") is not None
    clock.now += 301
    assert cache.get("old") is None  # expired on access
    cache.put("new", _info(10), 10**9)  # "older" was never read again: the insert drops it
    assert len(cache) == 1 and cache.total_bytes == len(json.dumps(_info(10)))


def test_a_lookup_larger_than_the_cache_budget_is_answered_but_not_kept(configured, media_server):
    _, client, headers = configured(LOOKUP_CACHE_BYTES=100)
    url = media_server.url("/feed.rss")
    assert len(client.get("/api/ytdlp", query_string={"url": url}, headers=headers).json) == 3
    seen = len(media_server.requests)
    assert len(client.get("/api/ytdlp", query_string={"url": url}, headers=headers).json) == 3
    assert len(media_server.requests) > seen


def test_yt_dlp_itself_sees_the_venvs_deno_and_yt_dlp_ejs():
    from mediacache.sources.ytdlp_downloader import new_ydl
    from mediacache.sources.ytdlp_options import base_options

    log = YtdlpDebugLog()
    with new_ydl(base_options({}) | {"verbose": True, "logger": log}) as ydl:
        ydl.print_debug_header()
    header = "\n".join(log.lines)
    assert "JS runtimes: deno-2" in header, header
    assert "yt_dlp_ejs-" in header  # among yt-dlp's optional libraries
    assert "curl_cffi" not in header.split("Request Handlers:")[-1]


def test_health_reports_the_js_runtime_and_ejs_versions(client):
    check = client.get("/api/health").json["checks"]["js_runtime"]
    assert check["status"] == "healthy" and check["runtime"] == "deno", check
    assert check["runtime_version"].startswith("2.") and check["ejs_version"]


def test_health_is_degraded_when_the_configured_js_runtime_does_not_run(configured):
    _, client, _ = configured(JS_RUNTIME="/nonexistent/deno")
    body = client.get("/api/health").json
    assert body["checks"]["js_runtime"]["status"] == "degraded" and body["status"] == "degraded"
    assert "does not run" in body["checks"]["js_runtime"]["error"]
