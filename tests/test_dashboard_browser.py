"""The dashboard in a real browser (Debian's Chromium through Playwright) against the real server process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import open_tab
from tests.helpers import ADMIN_PASSWORD, ROOT, LiveServer, auth_header, wait_for_entry
from tests.media_server import MediaServer

pytestmark = pytest.mark.e2e

FINAL = ("completed", "failed")
SHOTS = ROOT / "test-output" / "dashboard"


@pytest.fixture(scope="module")
def origin(media_folder):
    """The loopback media origin, shared by this module's tests."""
    server = MediaServer(media_folder).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real server for the module: ``python app.py`` with its own files."""
    live = LiveServer(tmp_path_factory.mktemp("dashboard"), MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD,
                      MEDIACACHE_ALLOW_PRIVATE_URLS="true")  # fmt: skip
    yield live.start()
    live.stop()


@pytest.fixture
def tab(browser, server):
    """A fresh browser context (empty sessionStorage) on the server."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    opened = open_tab(browser, server.base, SHOTS)
    yield opened
    opened.page.context.close()


def sign_in(tab, username="admin", password=ADMIN_PASSWORD, then="/"):
    """Through the sign-in form, as a person does."""
    tab.goto(then)
    tab.page.wait_for_url("**/sign-in**")
    tab.page.get_by_label("Username", exact=True).fill(username)
    tab.page.get_by_label("Password", exact=True).fill(password)
    tab.page.get_by_role("button", name="Sign in").click()
    tab.page.wait_for_url(tab.base + then)
    tab.page.locator("#who").filter(has_text=username).wait_for()


def admin_headers(server) -> dict[str, str]:
    status, _, body = server("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})
    assert status == 200, body
    return auth_header(body["token"])


def queue_through_the_page(tab, url: str, profile: str = "mp3") -> None:
    """Fill in the form and send it from the keyboard (Enter in the URL field)."""
    tab.page.get_by_label("Profile").select_option(profile)
    tab.page.get_by_label("URL").fill(url)
    tab.page.get_by_label("URL").press("Enter")


def test_sign_in_queue_watch_the_bar_reach_100_and_play(tab, server, origin):
    sign_in(tab)
    tab.screenshot("queue-form")
    queue_through_the_page(tab, origin.url("/gated/long.mp3"))
    # The job is half-way through its download: the bar, the phase and the numbers are live.
    tab.page.wait_for_function("() => { const bar = document.getElementById('job-progress');"
                               " return bar.value > 0 && bar.value < 100; }")  # fmt: skip
    tab.page.locator("#job-detail").filter(has_text="Downloading").wait_for()
    tab.screenshot("queue-progress")
    origin.release_gated()
    tab.page.wait_for_function("() => document.getElementById('job-progress').value === 100")
    tab.page.locator("#job-detail").filter(has_text="Done").wait_for()
    player = tab.page.locator("#job-player audio")
    player.evaluate("audio => audio.play()")
    tab.page.wait_for_function("() => document.querySelector('#job-player audio').currentTime > 0.2")
    tab.screenshot("queue-done")
    tab.assert_clean()


def test_library_lists_deletes_and_restores_an_entry(tab, server, origin):
    headers = admin_headers(server)
    status, _, entry = server("POST", "/api/media/queue", body={"url": origin.url("/media/other.mp3")}, headers=headers)
    assert status in (201, 409), entry
    sign_in(tab, then="/library")
    row = tab.page.locator(f"tr[data-id='{entry['id']}']")
    row.locator(".state").filter(has_text="completed").wait_for(timeout=60_000)
    title = row.get_by_role("link").inner_text()
    tab.screenshot("library")
    row.get_by_role("button", name=f"Delete: {title}").click()
    tab.page.locator("#status").filter(has_text="can be restored").wait_for()
    row.locator(".state").filter(has_text="deleted").wait_for()
    assert server("GET", f"/cache/{entry['id']}/x", headers=headers)[0] == 404
    row.get_by_role("button", name=f"Restore: {title}").click()
    tab.page.locator("#status").filter(has_text="Restored").wait_for()
    row.locator(".state").filter(has_text="completed").wait_for()
    _, _, restored = server("GET", f"/api/media/{entry['id']}", headers=headers)
    assert restored["valid"] is True and restored["cache_state"] == "live"
    # Its own page: metadata, and the request-log line of the queue call above.
    row.get_by_role("link").click()
    tab.page.wait_for_url(f"**/entries/{entry['id']}")
    tab.page.locator("#entry-meta").filter(has_text="Requested by").wait_for()
    tab.page.locator("#entry-log tbody tr").filter(has_text="201").first.wait_for()
    tab.screenshot("entry")
    tab.assert_clean()


def test_admin_creates_a_user_who_then_signs_in(tab, server, browser):
    sign_in(tab, then="/admin")
    tab.page.locator("#chart-daily svg").wait_for()
    tab.page.locator("#capacity-bars svg").wait_for()
    tab.page.get_by_label("Username", exact=True).fill("dj_booth")
    tab.page.get_by_label("Password", exact=True).fill("booth-pass-123")
    tab.page.get_by_role("button", name="Create user").click()
    tab.page.locator("#status").filter(has_text="Created dj_booth").wait_for()
    tab.page.locator("tr[data-username='dj_booth']").wait_for()
    tab.screenshot("admin")
    tab.assert_clean()
    other = open_tab(browser, server.base, tab.shots)
    try:
        sign_in(other, "dj_booth", "booth-pass-123")
        assert other.page.locator("nav .admin-only").is_hidden()
        other.assert_clean()
    finally:
        other.page.context.close()


def test_a_revoked_token_sends_the_user_back_to_sign_in_with_a_message(tab, server):
    sign_in(tab, then="/library")
    tab.page.locator("#collection-list tbody tr").first.wait_for()  # the page has made its first calls
    token = tab.page.evaluate("() => sessionStorage.getItem('mediacache.token')")
    assert server("POST", "/api/auth/logout", headers=auth_header(token))[0] == 204
    tab.page.get_by_role("button", name="Apply").click()
    tab.page.wait_for_url("**/sign-in?next=%2Flibrary")
    notice = tab.page.get_by_role("alert")
    assert "Sign in again" in notice.inner_text()
    assert tab.page.evaluate("() => sessionStorage.getItem('mediacache.token')") is None
    tab.screenshot("signed-out")
    # The 401 itself is the only thing the console reports.
    assert all("401" in message for message in tab.console_errors), tab.console_errors
    assert tab.foreign_requests() == []


def test_sign_out_revokes_the_token(tab, server):
    sign_in(tab)
    token = tab.page.evaluate("() => sessionStorage.getItem('mediacache.token')")
    tab.page.get_by_role("button", name="Sign out").click()
    tab.page.wait_for_url("**/sign-in")
    assert "signed out" in tab.page.get_by_role("alert").inner_text()
    assert server("GET", "/api/users/me", headers=auth_header(token))[0] == 401
    tab.assert_clean()


def background(tab) -> str:
    return tab.page.evaluate("() => getComputedStyle(document.body).backgroundColor")


def test_readable_at_360_px_in_the_dark_and_swagger_ui_from_this_origin(browser, server, tab):
    sign_in(tab, then="/library")
    narrow = open_tab(browser, server.base, SHOTS, width=360, color_scheme="dark")
    try:
        sign_in(narrow, then="/library")
        assert narrow.page.evaluate("() => document.documentElement.scrollWidth") <= 360
        # The system's dark preference is followed.
        assert background(narrow) != background(tab)
        narrow.screenshot("library-360px-dark")
        narrow.goto("/api/docs")
        narrow.page.locator(".swagger-ui .info").wait_for()
        narrow.screenshot("api-docs")
        narrow.assert_clean()
    finally:
        narrow.page.context.close()


def release_until_final(server, origin, media_id: str, headers, timeout: float = 90) -> dict:
    """Let /gated/ downloads go on (yt-dlp may fetch the URL more than once, each held) until the entry ends."""
    return wait_for_entry(server, media_id, headers, until=FINAL, timeout=timeout, meanwhile=origin.release_gated)


def test_progress_comes_from_the_real_event_stream(tab, server, origin):
    """The page follows a held job through the server's GET /api/events, read with its token.

    Every poll answer is made to say the job still runs, so only the stream can tell the page it completed.
    """
    headers = admin_headers(server)

    def stale_poll(route):
        if route.request.method != "GET":
            return route.fallback()
        response = route.fetch()
        entry = response.json()
        if entry.get("status") == "completed":
            entry |= {"status": "downloading", "progress": None}
        return route.fulfill(response=response, json=entry)

    tab.page.route("**/api/media/*", stale_poll)
    sign_in(tab)
    with tab.page.expect_response(lambda response: "/api/events" in response.url) as streamed:
        queue_through_the_page(tab, origin.url("/gated/tone.webm"), profile="ogg-opus")
    stream = streamed.value
    assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")
    assert stream.request.headers["authorization"].startswith("Bearer ")
    media_id = tab.page.locator("#job-name a").get_attribute("href").rsplit("/", 1)[1]
    release_until_final(server, origin, media_id, headers)
    tab.page.locator("#job-detail").filter(has_text="Done.").wait_for()
    assert tab.page.evaluate("() => document.getElementById('job-progress').value") == 100
    tab.page.locator("#job-player audio").wait_for()
    tab.assert_clean()


def test_a_normalized_entry_shows_its_loudness(tab, server, origin):
    sign_in(tab)
    tab.page.get_by_label("Normalize loudness").check()
    tab.page.get_by_label("Target (LUFS)").fill("-18")
    tab.page.get_by_label("Clip from (s)").fill("0.5")
    queue_through_the_page(tab, origin.url("/media/tone.mp3"))
    tab.page.locator("#job-detail").filter(has_text="Done.").wait_for(timeout=60_000)
    tab.page.locator("#job-name a").click()
    tab.page.wait_for_url("**/entries/*")
    loudness = tab.page.locator("#entry-loudness")
    loudness.filter(has_text="Normalized to").wait_for()
    text = loudness.inner_text()
    assert "-18.0 LUFS" in text and "True peak" in text and "Gain" in text, text
    assert "to -18 LUFS" in tab.page.locator("#entry-meta").inner_text()
    assert "0.5 s to the end" in tab.page.locator("#entry-meta").inner_text()
    tab.screenshot("entry-loudness")
    tab.assert_clean()


def test_a_collection_queued_from_the_page_fills_up_then_is_deleted_from_the_library(tab, server, origin):
    sign_in(tab)
    tab.page.get_by_label("Queue as a collection").check()
    queue_through_the_page(tab, origin.url("/list.rss?item=/media/tone.mp3&item=/media/other.mp3"), profile="ogg-opus")
    view = tab.page.locator("#collection-view .collection")
    view.locator(".collection-totals").filter(has_text="2/2 completed").wait_for(timeout=90_000)
    assert view.locator("tbody tr .state-completed").count() == 2
    assert view.locator("h2").inner_text() == "Collection: Test List"
    tab.screenshot("collection")
    view.get_by_role("button", name="Show .m3u8").click()
    listing = view.locator("pre.m3u")
    listing.filter(has_text="#EXTM3U").wait_for()
    assert listing.inner_text().count("#EXTINF:") == 2
    with tab.page.expect_download() as saved:
        view.get_by_role("button", name="Download .m3u8").click()
    assert saved.value.suggested_filename == "Test List.m3u8"
    assert "#EXTM3U" in Path(saved.value.path()).read_text(encoding="utf-8")
    collection_id = view.get_attribute("data-collection-id")
    # The library lists it; deleting it with its entries removes both.
    tab.goto("/library")
    row = tab.page.locator(f"#collection-list tr[data-collection-id='{collection_id}']")
    row.filter(has_text="2/2 completed").wait_for()
    row.get_by_role("button", name="Show: Test List").click()
    tab.page.locator("#collection-view .collection-totals").filter(has_text="2/2 completed").wait_for()
    row.get_by_role("button", name="Delete with entries: Test List").click()
    tab.page.locator("#status").filter(has_text="2 entries deleted").wait_for()
    row.wait_for(state="detached")
    assert server("GET", f"/api/collections/{collection_id}", headers=admin_headers(server))[0] == 404
    tab.assert_clean()


def test_a_failed_entry_shows_its_error_and_an_admin_requeues_it_from_the_dead_letters(tab, server, origin):
    headers = admin_headers(server)
    status, _, entry = server("POST", "/api/media/queue", body={"url": origin.url("/status/404")}, headers=headers)
    assert status == 201, entry
    sign_in(tab, then=f"/entries/{entry['id']}")
    tab.page.locator("#entry-error-text").filter(has_text="MEDIA_UNAVAILABLE").wait_for(timeout=60_000)
    tab.page.get_by_role("button", name="Retry").wait_for()
    tab.screenshot("entry-failed")
    tab.goto("/admin#dlq")
    tab.page.get_by_label(f"Select {entry['url']}").check()
    tab.page.get_by_role("button", name="Requeue selected").click()
    tab.page.locator("#status").filter(has_text="Requeued 1; skipped 0").wait_for()
    tab.assert_clean()
