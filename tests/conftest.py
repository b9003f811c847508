"""Shared fixtures: a fresh app on real SQLite files in tmp_path, tokens, a live server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# yt-dlp's plugin mechanism finds yt_dlp_plugins/ on sys.path: the fake site of test_failures.py.
sys.path.insert(0, str(Path(__file__).parent / "ytdlp_plugins"))

from mediacache import create_app
from tests.browser import CHROMIUM_ARGS, find_chromium
from tests.helpers import ADMIN_PASSWORD, auth_header, login, make_settings
from tests.media_server import MediaServer, generate_media


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``longest`` run first: under ``make test``'s two workers one worker takes each while the
    other works through the rest, instead of one of them starting last and leaving the other idle."""
    items.sort(key=lambda item: item.get_closest_marker("longest") is None)  # stable: the rest keep their order


@pytest.fixture
def settings(tmp_path) -> dict[str, Any]:
    """The configuration mapping for an app rooted in this test's tmp_path."""
    return make_settings(tmp_path)


@pytest.fixture
def app(settings):
    """A fresh application with its own database and cache folders."""
    application = create_app(settings)
    yield application
    application.extensions["mediacache.jobs"].shutdown()
    application.extensions["mediacache.webhooks"].stop()
    application.extensions["mediacache.background"].stop()


@pytest.fixture
def client(app):
    """A test client for ``app``."""
    return app.test_client()


@pytest.fixture
def admin_token(client) -> str:
    """An access token of the bootstrapped admin."""
    return login(client, "admin", ADMIN_PASSWORD)["token"]


@pytest.fixture
def admin(admin_token) -> dict[str, str]:
    """Authorization headers of the admin."""
    return auth_header(admin_token)


@pytest.fixture
def user_token(client, admin) -> str:
    """An access token of a plain user created by the admin."""
    response = client.post("/api/users", json={"username": "player", "password": "player-pass-1"}, headers=admin)
    assert response.status_code == 201, response.json
    return login(client, "player", "player-pass-1")["token"]


@pytest.fixture
def user(user_token) -> dict[str, str]:
    """Authorization headers of the plain user."""
    return auth_header(user_token)


@pytest.fixture(scope="session")
def media_folder(tmp_path_factory):
    """Media generated once per test session with ffmpeg."""
    folder = tmp_path_factory.mktemp("origin")
    generate_media(folder)
    return folder


@pytest.fixture
def media_server(media_folder):
    """A loopback HTTP origin serving the generated media (fresh request log per test)."""
    server = MediaServer(media_folder).start()
    yield server
    server.stop()


@pytest.fixture
def configured(tmp_path):
    """Build an app with extra settings: ``app, client, admin_headers = configured(WORKERS=1)``.

    Every app it builds has its jobs stopped when the test ends.
    """
    built = []

    def build(**overrides):
        application = create_app(make_settings(tmp_path, **overrides))
        built.append(application)
        test_client = application.test_client()
        return application, test_client, auth_header(login(test_client, "admin", ADMIN_PASSWORD)["token"])

    yield build
    for application in built:
        application.extensions["mediacache.jobs"].shutdown()
        application.extensions["mediacache.webhooks"].stop()
        application.extensions["mediacache.background"].stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright, started once for the session; skipped where there is none."""
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set MEDIACACHE_TEST_CHROMIUM to its path)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def http_handlers() -> list[str]:
    """yt-dlp's installed HTTP request handlers that mediacache lets it use."""
    from yt_dlp.networking.common import _REQUEST_HANDLERS

    from mediacache.sources import netguard

    return [
        key
        for key, handler in _REQUEST_HANDLERS.items()
        if "http" in handler._SUPPORTED_URL_SCHEMES and key in netguard.GUARDED_HANDLERS
    ]


@pytest.fixture(params=http_handlers())
def handler(request, monkeypatch):
    """A test using this runs once per request handler, with yt-dlp given only that one."""
    from mediacache.sources import netguard

    monkeypatch.setattr(netguard, "GUARDED_HANDLERS", (request.param,))
    return request.param
