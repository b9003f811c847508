"""Driving Debian's Chromium through Playwright: one browser per test session (conftest.py), a fresh context per test.

Never ``playwright install``: the tests use the system's browser (``.ci/run`` installs the
``chromium`` package) and are skipped, with that reason, where there is none.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # The player starts from the test's script, not a person's click.
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip


def find_chromium() -> str | None:
    """The system browser: MEDIACACHE_TEST_CHROMIUM, else Debian's chromium, else one on PATH."""
    candidates = [os.environ.get("MEDIACACHE_TEST_CHROMIUM"), *CHROMIUM_PATHS, shutil.which("chromium")]
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


@dataclass
class Tab:
    """A page in its own browser context (own sessionStorage), with every request and console message it saw."""

    page: object
    base: str
    shots: Path
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)

    def goto(self, path: str) -> None:
        """Open a path of the server under test."""
        self.page.goto(self.base + path)

    def screenshot(self, name: str) -> Path:
        """Save the whole page under the test output folder."""
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def foreign_requests(self) -> list[str]:
        """Requests to anywhere but the server under test (data: URLs are the page's own)."""
        origin = urlsplit(self.base)
        return [
            url for url in self.requests
            if not url.startswith("data:") and urlsplit(url)[:2] != origin[:2]
        ]  # fmt: skip

    def assert_clean(self) -> None:
        """Nothing loaded from another origin, no console error, no uncaught exception."""
        foreign = self.foreign_requests()
        assert foreign == [], f"loaded from another origin: {foreign}"
        assert self.console_errors == [], f"console errors: {self.console_errors} (answers: {self.failed_responses})"


def open_tab(browser, base: str, shots: Path, width: int = 1280, **options) -> Tab:
    """A fresh context and page on ``base``, recording requests, console errors and page errors."""
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=base, **options)
    context.set_default_timeout(30_000)
    page = context.new_page()
    tab = Tab(page, base, shots)
    page.on("request", lambda request: tab.requests.append(request.url))
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and tab.failed_responses.append(f"{response.status} {response.request.method} {response.url}")
        ),
    )
    page.on("console", lambda message: message.type == "error" and tab.console_errors.append(message.text))
    page.on("pageerror", lambda error: tab.console_errors.append(f"uncaught: {error}"))
    page.on("dialog", lambda dialog: dialog.accept())  # confirm() before a deletion
    return tab
