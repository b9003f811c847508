"""Time and memory limits on what yt-dlp fetches: origins that trickle, stall or never end.

Each test runs once per request handler yt-dlp may use (the ``handler`` fixture).
"""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers import wait_for_entry

ENDLESS_LIMIT = 256 * 1024**2  # the "endless" page ends here, so a test without the cap fails instead of hanging
PAGE_CAP = 1024**2


class HostileOrigin:
    """A loopback origin whose answers trickle, stall or never end; it counts the bytes it sends."""

    def __init__(self, mp3: bytes) -> None:
        self.mp3 = mp3
        self.sent: dict[str, int] = {}
        self.requests = 0  # of /drip.mp3
        self.stopping = threading.Event()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                with contextlib.suppress(OSError):
                    origin.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, name="hostile-origin", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return self.base + path

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path
        if path == "/drip.mp3":
            # A real MP3 start at once (the job reaches "downloading"), then one byte every 0.2 s.
            self.requests += 1
            self._head(request, "audio/mpeg", length=len(self.mp3) * 100)
            self._write(request, path, self.mp3[:4096])
            self._drip(request, path)
        elif path == "/drip.html":
            # The page the extractor must read whole, sent one byte every 0.2 s.
            self._head(request, "text/html", length=1024**2)
            self._write(request, path, b"<!doctype html><html><head><title>slow</title></head><body>")
            self._drip(request, path)
        elif path == "/endless.html":
            self._head(request, "text/html")
            chunk = b"<p>" + b"x" * 65_530 + b"</p>"
            while self.sent.get(path, 0) < ENDLESS_LIMIT and not self.stopping.is_set():
                self._write(request, path, chunk)
        elif path == "/endless-gzip.html":
            # A small compressed body that inflates to ENDLESS_LIMIT bytes.
            self._head(request, "text/html", encoding="gzip")
            encoder = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
            block = b"<p>" + b"x" * 1_048_570 + b"</p>"
            for _ in range(ENDLESS_LIMIT // len(block)):
                self._write(request, path, encoder.compress(block))
            self._write(request, path, encoder.flush())
        else:
            request.send_response(404)
            request.send_header("Content-Length", "0")
            request.end_headers()

    def _head(self, request, content_type: str, length: int | None = None, encoding: str | None = None) -> None:
        request.send_response(200)
        request.send_header("Content-Type", content_type)
        if encoding:
            request.send_header("Content-Encoding", encoding)
        if length is None:
            request.send_header("Connection", "close")  # the body ends when the connection does
            request.close_connection = True
        else:
            request.send_header("Content-Length", str(length))
        request.end_headers()

    def _write(self, request, path: str, data: bytes) -> None:
        request.wfile.write(data)
        request.wfile.flush()
        self.sent[path] = self.sent.get(path, 0) + len(data)

    def _drip(self, request, path: str) -> None:
        while not self.stopping.wait(0.2):
            self._write(request, path, b" ")


@pytest.fixture
def hostile(media_folder):
    origin = HostileOrigin((media_folder / "tone.mp3").read_bytes())
    yield origin
    origin.stop()


def _queue(client, headers, url: str) -> dict:
    response = client.post("/api/media/queue", json={"url": url}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


@pytest.mark.e2e
def test_a_download_that_trickles_fails_with_timeout_at_the_job_limit(configured, hostile, handler):
    _, client, headers = configured(JOB_TIMEOUT=3)
    entry = _queue(client, headers, hostile.url("/drip.mp3"))
    failed = wait_for_entry(client, entry["id"], headers, timeout=30)
    assert failed["status"] == "failed" and failed["error"]["code"] == "TIMEOUT", failed
    assert hostile.requests == 2  # the extractor's look at the URL, then the download that trickled


@pytest.mark.e2e
def test_a_page_that_stalls_during_extraction_fails_with_timeout(configured, hostile, handler):
    _, client, headers = configured(JOB_TIMEOUT=3)
    entry = _queue(client, headers, hostile.url("/drip.html"))
    failed = wait_for_entry(client, entry["id"], headers, timeout=30)
    assert failed["status"] == "failed" and failed["error"]["code"] == "TIMEOUT", failed


def test_a_lookup_of_a_page_that_stalls_answers_upstream_timeout(configured, hostile, handler):
    _, client, headers = configured(LOOKUP_TIMEOUT=2)
    started = time.monotonic()
    response = client.get("/api/ytdlp", query_string={"url": hostile.url("/drip.html")}, headers=headers)
    assert response.status_code == 504 and response.json["error"]["code"] == "UPSTREAM_TIMEOUT", response.json
    assert time.monotonic() - started < 30  # the page alone would take 1.5 hours


@pytest.mark.e2e
@pytest.mark.parametrize("path", ["/endless.html", "/endless-gzip.html"])
def test_an_endless_page_fails_a_job_with_too_large_and_is_not_read_on(configured, hostile, handler, path):
    _, client, headers = configured(MAX_PAGE_BYTES=PAGE_CAP)
    entry = _queue(client, headers, hostile.url(path))
    failed = wait_for_entry(client, entry["id"], headers, timeout=60)
    assert failed["status"] == "failed" and failed["error"]["code"] == "TOO_LARGE", failed
    # What the origin got out before the read stopped: the cap plus socket buffers, never the whole page.
    assert hostile.sent[path] < 64 * 1024**2


@pytest.mark.parametrize("path", ["/endless.html", "/endless-gzip.html"])
def test_an_endless_page_fails_a_lookup_with_too_large(configured, hostile, handler, path):
    _, client, headers = configured(MAX_PAGE_BYTES=PAGE_CAP)
    response = client.get("/api/ytdlp", query_string={"url": hostile.url(path)}, headers=headers)
    assert response.status_code == 413 and response.json["error"]["code"] == "TOO_LARGE", response.json
    assert hostile.sent[path] < 64 * 1024**2
