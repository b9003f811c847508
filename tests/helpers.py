"""Helpers shared by the tests (not fixtures)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ADMIN_PASSWORD = "admin-test-password"
ROOT = Path(__file__).resolve().parent.parent


class YtdlpDebugLog:
    """A yt-dlp logger that keeps its debug lines (yt-dlp's verbose output, as ``yt-dlp -v`` prints it)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def debug(self, message: str) -> None:
        self.lines.append(message)

    info = warning = error = debug


def make_settings(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Configuration for an app rooted in ``tmp_path``, scheduler off, fast hashing."""
    settings = {
        "TESTING": True,
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "STATIC_CACHE": str(tmp_path / "static_cache"),
        "PRIVATE_CACHE": str(tmp_path / "private_cache"),
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "SCHEDULER": False,
        "ALLOW_PRIVATE_URLS": True,
    }
    settings.update(overrides)
    return settings


def auth_header(token: str) -> dict[str, str]:
    """The Authorization header for a bearer token."""
    return {"Authorization": f"Bearer {token}"}


def login(client, username: str, password: str) -> dict[str, Any]:
    """Log in through the API and return the answer, asserting success."""
    response = client.post("/api/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.json
    return response.json


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, *, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 10):
    """One real HTTP request; returns (status, headers, parsed JSON or raw bytes)."""
    import urllib.error
    import urllib.request

    data = None
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, response_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, response_headers, raw = exc.code, exc.headers, exc.read()
    if response_headers.get_content_type() == "application/json":
        return status, response_headers, json.loads(raw or b"null")
    return status, response_headers, raw


class LiveServer:
    """``python app.py`` in a subprocess on a free port, as a user would start it."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.tmp_path = tmp_path
        self._use_port(free_port())
        self.env = {
            **os.environ,
            "MEDIACACHE_PORT": str(self.port),
            "MEDIACACHE_INSTANCE_DIR": str(tmp_path / "instance"),
            "MEDIACACHE_STATIC_CACHE": str(tmp_path / "static_cache"),
            "MEDIACACHE_PRIVATE_CACHE": str(tmp_path / "private_cache"),
            "MEDIACACHE_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            **env,
        }
        self.process: subprocess.Popen | None = None

    def _use_port(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = self.tmp_path / f"server-{port}.log"

    def start(self, timeout: float = 30, tries: int = 3) -> LiveServer:
        """Start the server and wait until /health answers.

        The free port was free when chosen; another test process (pytest-xdist's other worker)
        may take it before the server binds it: then the server starts again on another port.
        """
        log = open(self.log_path, "ab")  # noqa: SIM115 — the child keeps writing after we return
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if tries > 1 and "Address already in use" in self.log():
                    self._use_port(free_port())
                    self.env["MEDIACACHE_PORT"] = str(self.port)
                    return self.start(timeout, tries - 1)
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if http("GET", self.base + "/health", timeout=1)[0] == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        """Stop politely, then firmly."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: what a crash or the OOM killer does."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 10) -> str:
        """The log once it contains ``text`` (lines are written in batches, a moment after the fact)."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert text in log, log[-3000:]
        return log

    def __call__(self, method: str, path: str, **kwargs: Any):
        """A request to this server."""
        return http(method, self.base + path, **kwargs)


TERMINAL_STATES = ("completed", "failed", "cancelled")


def restarted_from(settings: dict[str, Any], version: int, *statements: str):
    """The app started again on a database taken back to ``version``'s shape by ``statements``.

    Each migration test does this: build a database, undo what the migration adds, mark it
    older, and start again; the restarted app (its jobs stopped) is what the test inspects.
    """
    from sqlalchemy import text

    from mediacache import create_app
    from mediacache.db.extensions import db

    app = create_app(settings)
    with app.app_context():
        for statement in (*statements, f"UPDATE schema_version SET version = {int(version)}"):
            db.session.execute(text(statement))
        db.session.commit()
    app.extensions["mediacache.jobs"].shutdown()
    restarted = create_app(settings)
    restarted.extensions["mediacache.jobs"].shutdown()
    return restarted


def eventually(probe, *, timeout: float = 30, interval: float = 0.05, failure=lambda last: last):
    """Call ``probe`` until it returns something truthy, and return that: the one way tests wait.

    Tests wait on what they can observe (an entry's status, a file, a row), never for a fixed
    time. Past ``timeout`` the test fails with ``failure(last result)`` as its message.
    """
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < deadline, failure(result)
        time.sleep(interval)
    return result


def read_entry(client, media_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """GET /api/media/<id>, through a Flask test client or a LiveServer."""
    if isinstance(client, LiveServer):
        return client("GET", f"/api/media/{media_id}", headers=headers)[2]
    return client.get(f"/api/media/{media_id}", headers=headers).json


def wait_for_entry(
    client, media_id: str, headers: dict[str, str], *, until=TERMINAL_STATES, timeout: float = 90, meanwhile=None
) -> dict[str, Any]:
    """Poll the entry (as a game server does) until its status is one of ``until``; the entry then.

    ``meanwhile`` runs before each poll: e.g. ``media_server.release_gated``, for a download held
    half-way (yt-dlp may fetch a URL more than once, each fetch held).
    """
    last: list[dict] = [{}]

    def reached():
        if meanwhile is not None:
            meanwhile()
        last[0] = read_entry(client, media_id, headers)
        return last[0] if last[0].get("status") in until else None

    return eventually(reached, timeout=timeout, failure=lambda _: f"entry {media_id} not {until}: {last[0]}")


def settled(client, entry: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """The entry once the background work after its job is done too: a copied file's loudness is written
    a moment after the entry completes, a write a test counting writes must not meet."""
    return eventually(lambda: (now := read_entry(client, entry["id"], headers))["metadata"]["loudness"] and now)


def queue_and_wait(client, headers, url: str, *, expect=(201,), completed: bool = True, **params) -> dict[str, Any]:
    """Queue ``url`` as a game server does (answered with a status in ``expect``) and poll until its job ends.

    With ``completed`` (the default) the job must have completed; the entry as last polled is returned.
    """
    response = client.post("/api/media/queue", json={"url": url, **params}, headers=headers)
    assert response.status_code in expect, response.json
    body = wait_for_entry(client, response.json["id"], headers)
    if completed:
        assert body["status"] == "completed", body["error"]
    return body


def shift(app, media_id: str, **deltas) -> None:
    """Move an entry's timestamps into the past, as if that much time had passed."""
    from mediacache.db import media_repo
    from mediacache.db.extensions import db
    from mediacache.db.models import Media

    with app.app_context():
        media = db.session.get(Media, media_id)
        media_repo.change(media_id, **{name: getattr(media, name) - delta for name, delta in deltas.items()})
        db.session.commit()


def flask_dispatches(app, monkeypatch) -> list[str]:
    """The paths Flask's own dispatch handles from now on (the rest were answered in front of it)."""
    seen: list[str] = []
    dispatch = app.full_dispatch_request

    def counted():
        from flask import request

        seen.append(request.path)
        return dispatch()

    monkeypatch.setattr(app, "full_dispatch_request", counted)
    return seen


def finished_entry(app, *, ttl_left: float = 3600) -> str:
    """A completed, served entry written straight to the database."""
    from mediacache.core.timeutil import utcnow
    from mediacache.db.extensions import db
    from mediacache.db.models import Media

    with app.app_context():
        media = Media(
            url="https://music.example/song", source_url="https://music.example/song", variant="mp3::",
            profile="mp3", ttl=3600, status="completed", cache_state="live", file_name="Artist - Song.mp3",
            extension="mp3", mime_type="audio/mpeg", size_bytes=1000, length_ms=5000, completed_at=utcnow(),
            expires_at=utcnow() + timedelta(seconds=ttl_left), requested_by="admin",
        )  # fmt: skip
        db.session.add(media)
        db.session.commit()
        folder = Path(app.config["STATIC_CACHE"]) / media.id
        folder.mkdir()
        (folder / media.file_name).write_bytes(b"\xff\xfb" + bytes(998))
        return media.id
