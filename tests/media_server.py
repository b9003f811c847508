"""A loopback origin for the pipeline tests: real media made by ffmpeg, served over real HTTP.

Besides files it serves an HTML page with an <audio> tag, an RSS feed with several
enclosures, playlists of the items a test names (/list.rss, /list.html), a 302, a URL
that hangs, one that trickles, one that stops half-way until the test releases it, and
404/500 answers. It records every request so tests can count downloads.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections import Counter
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from mediacache.sources.ffmpeg import find_ffmpeg

TAGS = {"title": "Sine Song", "artist": "Test Artist", "album": "Test Album", "genre": "electronic", "date": "2025"}
CONTENT_TYPES = {
    ".mp3": "audio/mpeg",
    ".webm": "audio/webm",
    ".ogg": "audio/ogg",
    ".m4a": "audio/mp4",
    ".flac": "audio/flac",
    ".mp4": "video/mp4",
    ".html": "text/html; charset=utf-8",
    ".rss": "application/rss+xml",
}


def _tag_args(tags: dict[str, str]) -> list[str]:
    return [arg for key, value in tags.items() for arg in ("-metadata", f"{key}={value}")]


def generate_media(folder: Path, long_seconds: int = 30) -> None:
    """Make the fixture files: short tagged tones in several codecs, a short video, one longer file."""
    ffmpeg = find_ffmpeg(None)
    folder.mkdir(parents=True, exist_ok=True)
    sine = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=3", "-ac", "2"]
    jobs = {
        "tone.mp3": [*sine, "-c:a", "libmp3lame", "-b:a", "128k", *_tag_args(TAGS)],
        "other.mp3": [*sine, "-c:a", "libmp3lame", "-b:a", "128k",
                      *_tag_args(TAGS | {"title": "Other Song (Official Video)"})],
        "tone.webm": [*sine, "-c:a", "libopus", "-b:a", "96k", "-ar", "48000", *_tag_args(TAGS)],
        "clip.mp4": ["-f", "lavfi", "-i", "testsrc=size=640x360:rate=25:duration=2", *sine, "-shortest",
                     "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k",
                     *_tag_args(TAGS | {"title": "Test Clip"})],
        "long.mp3": ["-f", "lavfi", "-i", f"sine=frequency=330:duration={long_seconds}", "-c:a", "libmp3lame",
                     "-b:a", "64k", *_tag_args(TAGS | {"title": "Long Song"})],
    }  # fmt: skip
    for name, args in jobs.items():
        target = folder / name
        if not target.exists():
            subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args, str(target)], check=True)
    for index in range(1, 4):
        episode = folder / f"episode{index}.mp3"
        if not episode.exists():
            episode.write_bytes((folder / "tone.mp3").read_bytes())


class MediaServer:
    """A threaded HTTP server on 127.0.0.1 serving the generated media and the special routes."""

    def __init__(self, folder: Path, host: str = "127.0.0.1") -> None:
        self.folder = folder
        self.requests: list[tuple[str, str]] = []
        self.cookies: list[str | None] = []  # the Cookie header of each request
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.trickle_delay = 0.2
        self.held: list[threading.Event] = []  # one per /gated/ request waiting half-way
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                server.handle(self, head=True)

            def do_GET(self) -> None:
                server.handle(self, head=False)

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="media-server", daemon=True)

    def start(self) -> MediaServer:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release hanging handlers."""
        self.stopping.set()
        self.release_gated()
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        """An absolute URL on this server."""
        return self.base + path

    def release_gated(self) -> int:
        """Let every /gated/ request now waiting half-way send the rest; returns how many there were."""
        with self.lock:
            waiting, self.held = self.held, []
        for release in waiting:
            release.set()
        return len(waiting)

    def downloads(self, path: str) -> int:
        """How many GET requests reached ``path``."""
        return Counter(self.requests)[("GET", path)]

    # --- routes ---------------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler, head: bool) -> None:
        path = request.path.split("?")[0]
        with self.lock:
            self.requests.append(("HEAD" if head else "GET", path))
            self.cookies.append(request.headers.get("Cookie"))
        if path.startswith("/media/"):
            return self._send_file(request, self.folder / path.removeprefix("/media/"), head)
        if path == "/redirect-to":
            target = parse_qs(urlsplit(request.path).query).get("url", [""])[0]
            return self._send(request, 302, b"", headers={"Location": target})
        if path == "/hls.m3u8":
            segment = parse_qs(urlsplit(request.path).query).get("segment", [""])[0]
            playlist = f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXTINF:3.0,\n{segment}\n#EXT-X-ENDLIST\n"
            return self._send(request, 200, playlist.encode(), "application/vnd.apple.mpegurl", head)
        if path == "/jsonld.html":
            return self._send(request, 200, self._json_ld_page(), CONTENT_TYPES[".html"], head)
        if path.startswith("/nolength/"):
            return self._send_unsized(request, self.folder / path.removeprefix("/nolength/"), head)
        if path.startswith("/as/"):
            # /as/<content-type-with-underscores>/<name>: a file served under a chosen type.
            kind = path.split("/")[2]
            data = (self.folder / "tone.mp3").read_bytes()
            return self._send(request, 200, data, kind.replace("_", "/"), head)
        if path.startswith("/redirect/"):
            return self._send(request, 302, b"", headers={"Location": "/media/" + path.removeprefix("/redirect/")})
        if path.startswith("/status/"):
            code = int(path.removeprefix("/status/"))
            return self._send(request, code, b"error page", "text/plain")
        if path == "/page.html":
            html = (
                b"<!doctype html><html><head><title>A Page With Audio</title></head><body>"
                b'<h1>Listen</h1><audio controls src="/media/tone.mp3"></audio></body></html>'
            )
            return self._send(request, 200, html, CONTENT_TYPES[".html"], head)
        if path == "/feed.rss":
            return self._send(request, 200, self._feed(), CONTENT_TYPES[".rss"], head)
        if path in ("/list.rss", "/list.html"):
            # A playlist of the items the test names, in its order: /list.rss?item=/media/tone.mp3&item=…
            items = parse_qs(urlsplit(request.path).query).get("item", [])
            body, kind = (
                (self._list_feed(items), ".rss") if path.endswith(".rss") else (self._list_page(items), ".html")
            )
            return self._send(request, 200, body, CONTENT_TYPES[kind], head)
        if path == "/hang":
            self.stopping.wait(120)
            return None
        if path.startswith("/trickle/"):
            return self._trickle(request, self.folder / path.removeprefix("/trickle/"), head)
        if path.startswith("/gated/"):
            return self._gated(request, self.folder / path.removeprefix("/gated/"), head)
        return self._send(request, 404, b"not found", "text/plain")

    def _json_ld_page(self) -> bytes:
        """A page describing its media in JSON-LD, with a duration yt-dlp reads before downloading."""
        data = {
            "@context": "https://schema.org", "@type": "VideoObject", "name": "Long Song",
            "duration": "PT30S", "contentUrl": f"{self.base}/media/long.mp3", "uploadDate": "2025-01-01",
            "thumbnailUrl": f"{self.base}/thumb.jpg", "description": "fixture",
        }  # fmt: skip
        return (
            "<!doctype html><html><head><title>Long Song</title>"
            f'<script type="application/ld+json">{json.dumps(data)}</script></head><body>hi</body></html>'
        ).encode()

    def _send_unsized(self, request, file: Path, head: bool) -> None:
        """No Content-Length: the body ends when the connection closes, so size is known only by counting."""
        if not file.is_file():
            return self._send(request, 404, b"not found")
        request.send_response(200)
        request.send_header("Content-Type", CONTENT_TYPES.get(file.suffix, "application/octet-stream"))
        request.send_header("Connection", "close")
        request.end_headers()
        request.close_connection = True
        if not head:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                request.wfile.write(file.read_bytes())

    def _feed(self) -> bytes:
        items = "".join(
            f"<item><title>Episode {i}</title><guid>ep{i}</guid>"
            f'<enclosure url="{self.base}/media/episode{i}.mp3" type="audio/mpeg" length="1000"/></item>'
            for i in range(1, 4)
        )
        return (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Test Podcast</title>'
            f"<link>{self.base}/</link><description>fixture</description>{items}</channel></rss>"
        ).encode()

    def _list_feed(self, items: list[str]) -> bytes:
        """An RSS feed with one enclosure per item (a path on this server), titled Track 1, Track 2, …"""
        entries = "".join(
            f"<item><title>Track {i}</title><guid>track{i}</guid><itunes:duration>3</itunes:duration>"
            f'<enclosure url="{self.base}{escape(item)}" type="audio/mpeg" length="1000"/></item>'
            for i, item in enumerate(items, start=1)
        )
        return (
            '<?xml version="1.0"?><rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">'
            f"<channel><title>Test List</title><itunes:author>List Maker</itunes:author><link>{self.base}/</link>"
            f"<description>fixture</description>{entries}</channel></rss>"
        ).encode()

    def _list_page(self, items: list[str]) -> bytes:
        """An HTML page with one <audio> per item (a path on this server)."""
        players = "".join(f'<audio controls src="{escape(item)}"></audio>' for item in items)
        return f"<!doctype html><html><head><title>A Page Of Songs</title></head><body>{players}</body></html>".encode()

    def _send(
        self,
        request,
        status: int,
        body: bytes,
        content_type: str = "text/plain",
        head: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.end_headers()
        if not head:
            request.wfile.write(body)

    def _send_file(self, request, file: Path, head: bool) -> None:
        if not file.is_file() or file.parent != self.folder:
            return self._send(request, 404, b"not found")
        data = file.read_bytes()
        start, end, status = 0, len(data) - 1, 200
        header = request.headers.get("Range", "")
        if header.startswith("bytes="):
            first, _, last = header[6:].partition("-")
            start = int(first or 0)
            end = min(int(last), end) if last else end
            status = 206
        request.send_response(status)
        request.send_header("Content-Type", CONTENT_TYPES.get(file.suffix, "application/octet-stream"))
        request.send_header("Content-Length", str(end - start + 1))
        request.send_header("Accept-Ranges", "bytes")
        if status == 206:
            request.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        request.end_headers()
        if not head:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                request.wfile.write(data[start : end + 1])

    def _start_whole_file(self, request, file: Path, head: bool) -> bytes | None:
        """A 200's headers for the whole file; its bytes if a body is to follow (None: 404 sent, or HEAD)."""
        if not file.is_file():
            self._send(request, 404, b"not found")
            return None
        data = file.read_bytes()
        request.send_response(200)
        request.send_header("Content-Type", CONTENT_TYPES.get(file.suffix, "application/octet-stream"))
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        return None if head else data

    def _trickle(self, request, file: Path, head: bool) -> None:
        data = self._start_whole_file(request, file, head)
        if data is None:
            return
        try:
            for offset in range(0, len(data), 2048):
                if self.stopping.is_set():
                    return
                request.wfile.write(data[offset : offset + 2048])
                request.wfile.flush()
                time.sleep(self.trickle_delay)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _gated(self, request, file: Path, head: bool) -> None:
        """The first half of the file, then nothing until release_gated(): a download held mid-way."""
        data = self._start_whole_file(request, file, head)
        if data is None:
            return
        release = threading.Event()
        with self.lock:
            self.held.append(release)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            request.wfile.write(data[: len(data) // 2])
            request.wfile.flush()
            release.wait(120)
            request.wfile.write(data[len(data) // 2 :])
