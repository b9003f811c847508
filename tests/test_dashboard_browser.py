"""The dashboard in a real browser (Debian's Chromium through Playwright) against the real server process."""

from __future__ import annotations

import json

import pytest

from tests.browser import open_tab
from tests.helpers import ADMIN_PASSWORD, ROOT, LiveServer, auth_header
from tests.media_server import MediaServer

pytestmark = pytest.mark.e2e

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


def test_progress_comes_from_the_event_stream_where_the_server_has_one(tab, server, origin):
    """A server whose document lists GET /api/events: the page reads the stream with its token, not a poll.

    This branch's server has no stream yet, so the browser is shown one: the document gains the route,
    and the stream says the held download completed, which no poll could have said.
    """
    headers = admin_headers(server)
    seen = {}

    def document_with_events(route):
        response = route.fetch()
        document = response.json()
        document["paths"]["/api/events"] = {"get": {"summary": "Server-sent events"}}
        route.fulfill(response=response, json=document)

    def stream(route):
        seen["authorization"] = route.request.headers.get("authorization", "")
        _, _, page = server("GET", "/api/media?sort=-created_at&limit=1", headers=headers)
        entry = page["items"][0] | {"status": "completed", "progress": None, "valid": False, "path": None}
        body = f": hello\n\nevent: media.completed\ndata: {json.dumps(entry)}\n\n"
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    tab.page.route("**/api/openapi.json", document_with_events)
    tab.page.route("**/api/events", stream)
    sign_in(tab)
    queue_through_the_page(tab, origin.url("/gated/tone.webm"), profile="ogg-opus")
    tab.page.locator("#job-detail").filter(has_text="Done, but not served right now").wait_for()
    assert tab.page.evaluate("() => document.getElementById('job-progress').value") == 100
    assert seen["authorization"].startswith("Bearer ")
    _, _, entry = server("GET", "/api/media?sort=-created_at&limit=1", headers=headers)
    assert entry["items"][0]["status"] != "completed"  # the server's job is still held: the stream said it
    origin.release_gated()
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
