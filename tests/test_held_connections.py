"""The real server with many connections held open: idle, keep-alive and slowloris clients lock nobody out."""

from __future__ import annotations

import os
import resource
import select
import socket
import threading
import time

import pytest

from tests.helpers import ADMIN_PASSWORD, LiveServer, auth_header, eventually, wait_for_entry

HELD = 500  # of each kind: idle, and slowloris
KEPT_ALIVE = 100  # and these, after one request: past descriptor 1,024 in all, where select() gives up


def _allow_open_files(count: int) -> None:
    """Raise this test process's own open-file limit: it holds every client socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < count:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (count if hard == resource.RLIM_INFINITY else min(count, hard), hard)
        )
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < count:
        pytest.skip(f"this machine allows fewer than {count} open files per process")


def _open_sockets(pid: int) -> int:
    count = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:")
        except OSError:
            continue  # closed while we looked
    return count


def _wait_for_sockets(pid: int, count: int, timeout: float = 60) -> None:
    """Until the server process has ``count`` sockets open: connections accepted, not left in the backlog."""
    eventually(lambda: _open_sockets(pid) >= count, timeout=timeout, interval=0.1,
               failure=lambda _: f"the server has only {_open_sockets(pid)} of {count} sockets open")  # fmt: skip


def _closed_by_server(sock: socket.socket, timeout: float, keep_sending: bytes = b"") -> bool:
    """Wait until the server closes ``sock`` (sending ``keep_sending`` a byte at a time meanwhile)."""
    deadline = time.monotonic() + timeout
    sent = 0
    # poll, not select: this process may hold descriptors past select's 1,024 (the test above holds 1,100).
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    while time.monotonic() < deadline:
        readable = poller.poll(200)
        try:
            if readable and sock.recv(4096) == b"":
                return True
            if sent < len(keep_sending):
                sock.send(keep_sending[sent : sent + 1])
                sent += 1
        except (BrokenPipeError, ConnectionResetError):
            return True
    return False


def test_new_clients_are_answered_while_1100_connections_are_held(tmp_path, media_server):
    _allow_open_files(2 * HELD + KEPT_ALIVE + 512)
    server = LiveServer(
        tmp_path,
        MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD,
        MEDIACACHE_ALLOW_PRIVATE_URLS="true",
        # Long enough that nothing held is closed while the test runs: the limit is what is tested.
        MEDIACACHE_IDLE_TIMEOUT="600",
        MEDIACACHE_HEADER_TIMEOUT="600",
    ).start()
    held: list[socket.socket] = []
    stop_trickle = threading.Event()
    try:
        token = server("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})[2]["token"]
        headers = auth_header(token)
        status, _, entry = server("POST", "/api/media/queue", body={"url": media_server.url("/media/tone.mp3")},
                                  headers=headers)  # fmt: skip
        assert status == 201, entry
        # Done, so that its own connections come and go before we count.
        assert wait_for_entry(server, entry["id"], headers, timeout=60)["status"] == "completed"
        # Less a few: a connection of the requests above may still be closing on the server's side.
        before = _open_sockets(server.process.pid) - 3

        address = ("127.0.0.1", server.port)
        idle = [socket.create_connection(address) for _ in range(HELD)]
        slow = [socket.create_connection(address) for _ in range(HELD)]
        kept_alive = [socket.create_connection(address) for _ in range(KEPT_ALIVE)]
        held += idle + slow + kept_alive
        for sock in kept_alive:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        for sock in kept_alive:
            sock.settimeout(30)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        for sock in slow:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")

        def trickle() -> None:  # one more header byte on every slow connection, every half second
            while not stop_trickle.wait(0.5):
                for sock in slow:
                    sock.send(b"a")

        threading.Thread(target=trickle, daemon=True).start()
        total = 2 * HELD + KEPT_ALIVE
        _wait_for_sockets(server.process.pid, before + total)

        # Answered, where waitress as released accepted nobody past ~100 held connections: a new
        # client waited in the backlog until its timeout.
        for _ in range(5):
            for path, request_headers in (("/health", {}), (f"/api/media/{entry['id']}", headers)):
                assert server("GET", path, headers=request_headers, timeout=10)[0] == 200, path
        assert _open_sockets(server.process.pid) >= before + total  # still all held
    finally:
        stop_trickle.set()
        for sock in held:
            sock.close()
        server.stop()


def test_idle_and_slow_header_connections_are_closed_after_their_timeouts(tmp_path):
    server = LiveServer(tmp_path, MEDIACACHE_IDLE_TIMEOUT="2", MEDIACACHE_HEADER_TIMEOUT="1").start()
    address = ("127.0.0.1", server.port)
    try:
        never_spoke = socket.create_connection(address)
        kept_alive = socket.create_connection(address)
        kept_alive.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert kept_alive.recv(65536).startswith(b"HTTP/1.1 200")
        slowloris = socket.create_connection(address)
        slowloris.sendall(b"GET /health HTTP/1.1\r\n")
        # A byte every 0.2 s is never idle for 2 s: only the header deadline can close it.
        assert _closed_by_server(slowloris, timeout=15, keep_sending=b"X-Slow: " + b"a" * 200)
        assert _closed_by_server(never_spoke, timeout=15)
        assert _closed_by_server(kept_alive, timeout=15)
        assert server("GET", "/health")[0] == 200  # the server itself carries on
    finally:
        server.stop()


def test_a_slow_request_body_is_closed_after_the_body_timeout(tmp_path):
    server = LiveServer(
        tmp_path, MEDIACACHE_IDLE_TIMEOUT="2", MEDIACACHE_HEADER_TIMEOUT="1", MEDIACACHE_BODY_TIMEOUT="1"
    ).start()
    try:
        slow_body = socket.create_connection(("127.0.0.1", server.port))
        slow_body.sendall(b"POST /api/login HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\nu")
        # Headers complete, then a body byte every 0.2 s: never idle, never stuck in headers.
        assert _closed_by_server(slow_body, timeout=15, keep_sending=b"u" * 200)
        assert server("GET", "/health")[0] == 200
    finally:
        server.stop()


@pytest.mark.parametrize("raw", [b"GARBAGE\r\n\r\n", b"GET /api/media/x HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"])
def test_a_malformed_request_to_the_real_server_gets_400_without_a_traceback(tmp_path, raw):
    server = LiveServer(tmp_path).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
            client.sendall(raw)
            received = b""
            while chunk := client.recv(65536):
                received += chunk
        assert b" 400 Bad Request\r\n" in received.split(b"\r\n", 1)[0] + b"\r\n", received
        assert server("GET", "/health")[0] == 200
    finally:
        server.stop()
    assert "uncaptured python exception" not in server.log()
    assert "Traceback" not in server.log()
