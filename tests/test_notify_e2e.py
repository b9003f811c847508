"""Waiting clients against the real server (issue 18): 100 long-polls and 20 event streams held open starve no one,
and a stop does not hang on them."""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import time

import pytest

from tests.helpers import ADMIN_PASSWORD, LiveServer, auth_header, wait_for_entry

pytestmark = pytest.mark.e2e

LONG_POLLS, STREAMS, STOP_TIMEOUT = 100, 20, 5


def _hold(server: LiveServer, path: str, token: str) -> socket.socket:
    """A connection that sent its GET and reads nothing yet."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    received = b""
    while marker not in received:
        chunk = sock.recv(65536)
        assert chunk, f"closed before {marker!r}: {received[-500:]!r}"
        received += chunk
    return received


def _release_until_done(server, headers, media_server, media_id: str) -> None:
    wait_for_entry(server, media_id, headers, until=("completed", "failed"), timeout=60,
                   meanwhile=media_server.release_gated)  # fmt: skip


def test_held_long_polls_and_streams_starve_no_one_and_a_stop_ends_them(tmp_path, media_server):
    server = LiveServer(
        tmp_path, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD, MEDIACACHE_ALLOW_PRIVATE_URLS="true",
        MEDIACACHE_STOP_TIMEOUT=str(STOP_TIMEOUT), MEDIACACHE_EVENTS_MAX_STREAMS_PER_USER=str(STREAMS),
    ).start()  # fmt: skip
    held: list[socket.socket] = []
    try:
        token = server("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})[2]["token"]
        headers = auth_header(token)
        ready = server("POST", "/api/media/queue", body={"url": media_server.url("/media/tone.mp3")}, headers=headers)
        waiting = server("POST", "/api/media/queue", body={"url": media_server.url("/gated/long.mp3")}, headers=headers)
        waiting_id = waiting[2]["id"]
        done = wait_for_entry(server, ready[2]["id"], headers, timeout=60)
        assert done["status"] == "completed", done

        streams = [_hold(server, "/api/events", token) for _ in range(STREAMS)]
        for stream in streams:
            _read_until(stream, b"connected")  # each stream is open and being answered
        polls = [_hold(server, f"/api/media/{waiting_id}?wait=30", token) for _ in range(LONG_POLLS)]
        held += streams + polls

        # Everyone else, meanwhile: polls, a queue call, a file download, all answered as usual.
        for _ in range(20):
            status, poll_headers, entry = server("GET", f"/api/media/{done['id']}", headers=headers)
            assert status == 200 and entry["status"] == "completed" and "Retry-After" not in poll_headers
        status, _, queued = server("POST", "/api/media/queue", body={"url": media_server.url("/media/tone.ogg")},
                                   headers=headers)  # fmt: skip
        assert status == 201, queued
        status, _, body = server("GET", done["path"])
        assert status == 200 and len(body) == done["size_bytes"]
        assert server("GET", f"/api/media/{waiting_id}", headers=headers)[1]["Retry-After"] == "1"
        # The long-polls were waiting all along: none has been answered yet.
        # (poll, not select: descriptors may lie past select's 1,024 in a process that ran other tests)
        watcher = select.poll()
        for sock in polls:
            watcher.register(sock, select.POLLIN)
        assert watcher.poll(0) == []

        _release_until_done(server, headers, media_server, waiting_id)
        for poll in polls:
            assert b'"status":"completed"' in _read_until(poll, b"}").replace(b" ", b"")
        for stream in streams:
            _read_until(stream, b"event: media.completed")

        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)  # the 20 streams are still open
        try:
            server.process.wait(STOP_TIMEOUT + 5)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {time.monotonic() - started:.0f} s after SIGTERM") from None
        for stream in streams:
            stream.settimeout(10)
            while stream.recv(65536):  # ends: the server closed it
                pass
    finally:
        for sock in held:
            sock.close()
        server.stop()


def test_a_client_that_leaves_gives_its_stream_slot_back(tmp_path, media_server):
    server = LiveServer(
        tmp_path, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD, MEDIACACHE_ALLOW_PRIVATE_URLS="true",
        MEDIACACHE_EVENTS_MAX_STREAMS="1", MEDIACACHE_EVENTS_HEARTBEAT="600",
    ).start()  # fmt: skip
    try:
        token = server("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})[2]["token"]
        headers = auth_header(token)
        waiting = server("POST", "/api/media/queue", body={"url": media_server.url("/gated/left.mp3")}, headers=headers)
        waiting_id = waiting[2]["id"]
        stream = _hold(server, "/api/events", token)
        _read_until(stream, b"connected")
        poll = _hold(server, f"/api/media/{waiting_id}?wait=30", token)
        # Held: the one stream slot is taken.
        assert server("GET", "/api/events", headers=headers)[0] == 503
        stream.close()
        poll.close()
        # The client left without a word: its slot comes back before any write to it fails (heartbeat: 15 s).
        deadline = time.monotonic() + 30
        while True:
            sock = _hold(server, "/api/events", token)
            answer = _read_until(sock, b"\r\n\r\n")
            sock.close()
            if answer.startswith(b"HTTP/1.1 200"):
                break
            assert time.monotonic() < deadline, answer[:200]
            time.sleep(0.2)
        _release_until_done(server, headers, media_server, waiting_id)
    finally:
        server.stop()
