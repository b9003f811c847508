"""mediacache's waitress: the main loop leaves a running request's output to its thread, and answers from memory."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
import urllib.request

import pytest
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer

from mediacache.patches.waitress import ON_MAIN_LOOP, Channel, NeedsThread, make_server


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


@pytest.fixture
def running():
    """Start a server made by make_server in a thread; stop it afterwards."""
    started = []

    def start(app, **options):
        server = make_server(app, threads=2, **options)
        thread = threading.Thread(target=server.run, name="main-loop", daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.close()
        thread.join(5)


def _connection(server) -> Channel:
    """A channel of ``server`` on a real socket pair, as waitress makes one per client."""
    ours, _theirs = socket.socketpair()
    return server.channel_class(server, ours, ("127.0.0.1", 0), server.adj, map={})


def test_every_listener_makes_our_connections(running):
    single = running(_hello, host="127.0.0.1", port=0)
    several = running(_hello, listen="127.0.0.1:0 127.0.0.1:0")
    listeners = [single, *(item for item in several.map.values() if isinstance(item, BaseWSGIServer))]
    assert len(listeners) == 3
    assert all(listener.channel_class is Channel for listener in listeners)
    for listener in listeners:
        host, port = listener.socket.getsockname()[:2]
        assert urllib.request.urlopen(f"http://{host}:{port}/", timeout=5).read() == b"hello"


def test_the_loop_does_not_watch_output_a_running_request_is_sending(running):
    """Upstream would select() on a writable socket it cannot flush (the thread holds the lock): a busy loop."""
    channel = _connection(running(_hello, host="127.0.0.1", port=0))
    channel.requests = [object()]  # a request thread is running
    channel.total_outbufs_len = 10  # and writing its answer
    assert HTTPChannel.writable(channel)  # what waitress itself would watch
    assert not channel.writable()


@pytest.mark.parametrize(
    "state",
    [
        {"requests": []},  # the request ended with bytes unsent: the loop sends them
        {"total_outbufs_len": 1 << 30},  # past the high watermark: the thread waits for the loop
        {"will_close": True},
        {"close_when_flushed": True},
    ],
)
def test_the_loop_still_takes_over_output_when_it_must(running, state):
    channel = _connection(running(_hello, host="127.0.0.1", port=0))
    channel.requests, channel.total_outbufs_len = [object()], 10
    for name, value in state.items():
        setattr(channel, name, value)
    assert channel.writable()


def test_an_answer_larger_than_the_high_watermark_reaches_a_slow_client_whole(running):
    """The thread stops at the watermark and waits for the loop to send: the loop must then watch."""
    block = bytes(range(256)) * 256  # 64 KiB
    body = block * 64  # 4 MiB

    at_watermark = threading.Event()

    def blocks():
        for number in range(64):
            if number * len(block) >= 256 * 1024:
                at_watermark.set()  # the blocks written so far fill the outbuf to the watermark
            yield block

    def stream(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
        return blocks()

    server = running(stream, host="127.0.0.1", port=0, outbuf_high_watermark=256 * 1024)
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's output piles up
        client.settimeout(20)
        client.connect(server.socket.getsockname())
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        # Not reading yet: the thread fills the socket, then the outbuf up to the watermark, and the next
        # block takes it past (then the thread waits for the loop to send).
        assert at_watermark.wait(20)
        received = bytearray()
        while chunk := client.recv(1 << 16):
            received += chunk
    assert received.endswith(body) and received.startswith(b"HTTP/1.1 200")


@pytest.mark.e2e
def test_app_py_serves_through_this_waitress(tmp_path, monkeypatch):
    """``python app.py`` must not fall back to waitress as released (its busy loop is what this module fixes)."""
    import signal

    import waitress

    import app as entry
    from tests.helpers import ADMIN_PASSWORD, LiveServer

    for name, value in LiveServer(tmp_path, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD).env.items():
        if name.startswith("MEDIACACHE_"):
            monkeypatch.setenv(name, value)
    # Everything main() does to the process besides building the app and serving it (app.py
    # imports these names at its top, so they are replaced where main() looks them up).
    for name in ("configure_logging", "limit_malloc_arenas", "freeze_long_lived_objects", "start_scheduler",
                 "stop_scheduler"):  # fmt: skip
        monkeypatch.setattr(entry, name, lambda *args: None)
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    served = []
    monkeypatch.setattr(entry, "serve", lambda app, **options: served.append(("ours", options)))
    monkeypatch.setattr(waitress, "serve", lambda app, **options: served.append(("stock", options)))
    assert entry.main() == 0
    ((server, options),) = served
    assert server == "ours" and options["threads"] == 8 and options["port"] > 0
    # Polls are offered to the main loop; files (read from disk) are not.
    assert options["main_loop_paths"].match("/api/media/0b9e6c1e-1d4a-4f44-9a51-1c2b3d4e5f60")
    assert not options["main_loop_paths"].match("/cache/0b9e6c1e-1d4a-4f44-9a51-1c2b3d4e5f60/a.mp3")


class Recorder:
    """A WSGI app that notes which thread answered each request, and whether it was offered on the main loop.

    On the main loop it answers paths ending in a digit; anything else it hands to a thread
    (``NeedsThread``), as mediacache's shortcuts do with what memory cannot answer.
    """

    def __init__(self, fail_on_loop: type[Exception] = NeedsThread) -> None:
        self.fail_on_loop = fail_on_loop
        self.answered: list[tuple[str, str, bool]] = []  # (path, thread, offered on the main loop)

    def __call__(self, environ, start_response):
        path, on_loop = environ["PATH_INFO"], environ.get(ON_MAIN_LOOP, False)
        if on_loop and not path[-1].isdigit():
            raise self.fail_on_loop("not from memory")
        self.answered.append((path, threading.current_thread().name, on_loop))
        body = path.encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    def threads(self) -> dict[str, str]:
        return {path: "loop" if thread == "main-loop" else "thread" for path, thread, _ in self.answered}


LOOP_PATHS = re.compile(r"/api/media/[^/]+\Z")


def _get(server, path: str, method: str = "GET", **headers: str):
    request = urllib.request.Request(f"http://127.0.0.1:{server.socket.getsockname()[1]}{path}", method=method)
    for name, value in headers.items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.status, answer.read()


def test_a_request_the_app_answers_from_memory_is_answered_on_the_main_loop(running):
    app = Recorder()
    server = running(app, host="127.0.0.1", port=0, main_loop_paths=LOOP_PATHS)
    assert _get(server, "/api/media/1") == (200, b"/api/media/1")
    assert _get(server, "/cache/1/a.mp3") == (200, b"/cache/1/a.mp3")  # not a main-loop path
    assert _get(server, "/api/media/2", method="DELETE") == (200, b"/api/media/2")  # nor a GET
    assert app.threads() == {"/api/media/1": "loop", "/cache/1/a.mp3": "thread", "/api/media/2": "thread"}
    assert [on_loop for *_, on_loop in app.answered] == [True, False, False]


def test_without_main_loop_paths_every_request_goes_to_a_thread(running):
    app = Recorder()
    server = running(app, host="127.0.0.1", port=0)
    assert _get(server, "/api/media/1") == (200, b"/api/media/1")
    assert app.threads() == {"/api/media/1": "thread"}


@pytest.mark.parametrize("failure", [NeedsThread, RuntimeError])
def test_what_the_main_loop_cannot_answer_a_thread_answers_afresh(running, failure):
    """NeedsThread, or an error before anything is sent: the request is answered once, by a thread."""
    app = Recorder(fail_on_loop=failure)
    server = running(app, host="127.0.0.1", port=0, main_loop_paths=LOOP_PATHS)
    assert _get(server, "/api/media/abc") == (200, b"/api/media/abc")
    assert app.answered == [("/api/media/abc", app.answered[0][1], False)]  # a fresh environ: not on the loop
    assert app.threads() == {"/api/media/abc": "thread"}


def _exchange(server, raw: bytes, answers: int) -> list[bytes]:
    """Send raw request bytes on one connection; the bodies of the first ``answers`` answers."""
    with socket.create_connection(server.socket.getsockname()[:2], timeout=5) as client:
        client.sendall(raw)
        return _read_answers(client, answers)


def _read_answers(client: socket.socket, answers: int) -> list[bytes]:
    received, bodies = b"", []
    while len(bodies) < answers:
        chunk = client.recv(65536)
        if not chunk:
            break
        received += chunk
        while b"\r\n\r\n" in received:
            head, rest = received.split(b"\r\n\r\n", 1)
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
            if len(rest) < length:
                break
            bodies.append(rest[:length])
            received = rest[length:]
    return bodies


def test_pipelined_requests_are_answered_in_order_on_the_loop_and_in_threads(running):
    app = Recorder()
    server = running(app, host="127.0.0.1", port=0, main_loop_paths=LOOP_PATHS)
    paths = ["/api/media/1", "/api/media/x", "/api/media/3", "/cache/4/a.mp3", "/api/media/5"]
    raw = b"".join(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for path in paths)
    assert _exchange(server, raw, len(paths)) == [path.encode() for path in paths]
    assert app.threads()["/api/media/1"] == "loop"  # the first one read; the rest queued behind it go to a thread
    assert app.threads()["/api/media/x"] == "thread"


def test_one_keep_alive_connection_is_answered_on_the_loop_request_after_request(running):
    app = Recorder()
    server = running(app, host="127.0.0.1", port=0, main_loop_paths=LOOP_PATHS)
    with socket.create_connection(server.socket.getsockname()[:2], timeout=5) as client:
        for number in range(5):
            client.sendall(f"GET /api/media/{number} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert _read_answers(client, 1) == [f"/api/media/{number}".encode()]
    assert set(app.threads().values()) == {"loop"} and len(app.answered) == 5


def test_connection_close_is_honoured_on_the_loop(running):
    server = running(Recorder(), host="127.0.0.1", port=0, main_loop_paths=LOOP_PATHS)
    with socket.create_connection(server.socket.getsockname()[:2], timeout=5) as client:
        client.sendall(b"GET /api/media/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := client.recv(65536):  # ends only if the server closes the connection
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK") and received.endswith(b"\r\n\r\n/api/media/1")


def test_a_file_span_goes_out_with_sendfile_whole_or_ranged_and_survives_a_client_leaving(
    running, tmp_path, monkeypatch
):
    """waitress would read each block into Python and send it again; a FileSpan sends itself."""
    import os

    from mediacache.web.routes.files import FileSpan

    data = os.urandom(3 * 1024 * 1024 + 123)  # several socket buffers' worth, not a multiple of any block
    path = tmp_path / "file"
    path.write_bytes(data)
    sent_by_sendfile = []
    send_to = FileSpan.send_to
    monkeypatch.setattr(FileSpan, "send_to", lambda span, *args: sent_by_sendfile.append(send_to(span, *args))
                        or sent_by_sendfile[-1])  # fmt: skip

    def app(environ, start_response):
        start, stop = (1000, 2_000_123) if environ["PATH_INFO"] == "/range" else (0, len(data))
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(stop - start))])
        return environ["wsgi.file_wrapper"](FileSpan(os.open(path, os.O_RDONLY), start, stop), 256 * 1024)

    server = running(app, host="127.0.0.1", port=0)
    base = f"http://127.0.0.1:{server.socket.getsockname()[1]}"
    leaving = socket.create_connection(server.socket.getsockname()[:2])
    leaving.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    leaving.recv(1000)
    leaving.close()  # mid-answer: the server goes on with everyone else
    assert urllib.request.urlopen(base + "/", timeout=10).read() == data
    assert urllib.request.urlopen(base + "/range", timeout=10).read() == data[1000:2_000_123]
    assert sum(sent_by_sendfile) >= len(data) + 2_000_123 - 1000


def test_the_open_file_limit_is_raised_toward_the_connection_limit_but_never_past_the_hard_limit():
    import subprocess
    import sys

    from tests.helpers import ROOT

    script = (
        "import resource\n"
        "from mediacache.patches.waitress import raise_open_file_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 600))\n"  # a process started with a low limit
        "print(raise_open_file_limit(512), raise_open_file_limit(4096 + 256), raise_open_file_limit(100),"
        " resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["512", "600", "600", "600"], result.stderr


MALFORMED = {
    "garbage": b"GARBAGE\r\n\r\n",
    "header without a colon": b"GET /api/media/1 HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    "control character in a header value": b"GET /api/media/1 HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
    "bare CR in the request line": b"GET /api/media/1\rX HTTP/1.1\r\nHost: x\r\n\r\n",
    "folded line with nothing to fold into": b"GET /api/media/1 HTTP/1.1\r\n folded\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_request_gets_waitress_400_and_no_traceback(running, caplog, raw):
    """A request that fails to parse has no command or path: the main-loop offer must leave it to waitress."""
    app = Recorder()
    server = running(app, host="127.0.0.1", port=0, main_loop_paths=LOOP_PATHS)
    with socket.create_connection(server.socket.getsockname()[:2], timeout=5) as client:
        client.sendall(raw)
        received = b""
        while chunk := client.recv(65536):  # waitress closes the connection after its error answer
            received += chunk
    assert re.match(rb"HTTP/1\.[01] 400 Bad Request\r\n", received), received
    assert app.answered == []  # the app never saw it
    assert _get(server, "/api/media/1") == (200, b"/api/media/1")  # the server carries on
    assert "uncaptured python exception" not in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], caplog.text


def test_a_request_body_sent_too_slowly_is_closed_after_the_body_timeout(running):
    """Headers done in time, then a byte of the body now and then: never idle, so only the body deadline closes it."""
    server = running(
        Recorder(), host="127.0.0.1", port=0, header_timeout=60, body_timeout=1, cleanup_interval=1, channel_timeout=60
    )
    with socket.create_connection(server.socket.getsockname()[:2], timeout=5) as client:
        client.sendall(b"POST /api/login HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\nu")
        closed = threading.Event()

        def read_until_closed() -> None:
            with contextlib.suppress(OSError):
                client.settimeout(30)
                while client.recv(65536):
                    pass
            closed.set()

        threading.Thread(target=read_until_closed, daemon=True).start()
        sent = 1
        while not closed.wait(0.1) and sent < 300:  # 30 s at most, far past the deadline
            with contextlib.suppress(OSError):
                client.send(b"u")
            sent += 1
        assert closed.is_set(), "the slow body's connection is still open"
    assert _get(server, "/api/media/1") == (200, b"/api/media/1")  # the server carries on


def test_a_whole_request_body_within_the_body_timeout_is_answered(running):
    server = running(Recorder(), host="127.0.0.1", port=0, body_timeout=1, cleanup_interval=1)
    with socket.create_connection(server.socket.getsockname()[:2], timeout=5) as client:
        client.sendall(b"POST /api/media/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
        assert _read_answers(client, 1) == [b"/api/media/1"]


def test_one_client_address_holds_at_most_max_connections_per_address(running):
    server = running(Recorder(), host="127.0.0.1", port=0, max_connections_per_address=2)
    address = server.socket.getsockname()[:2]
    held = [socket.create_connection(address, timeout=10) for _ in range(2)]
    try:
        for client in held:  # both accepted and answered, and kept alive
            client.sendall(b"GET /api/media/1 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_answers(client, 1) == [b"/api/media/1"]
        with socket.create_connection(address, timeout=10) as third:
            with contextlib.suppress(ConnectionResetError):
                third.sendall(b"GET /api/media/3 HTTP/1.1\r\nHost: x\r\n\r\n")
            with contextlib.suppress(ConnectionResetError):
                assert third.recv(65536) == b""  # closed unanswered
        held.pop().close()
        # Its place is free once the server has seen it close: a new connection is answered.
        deadline = time.monotonic() + 10
        while True:
            with socket.create_connection(address, timeout=10) as fresh:
                fresh.sendall(b"GET /api/media/4 HTTP/1.1\r\nHost: x\r\n\r\n")
                with contextlib.suppress(ConnectionResetError):
                    if _read_answers(fresh, 1) == [b"/api/media/4"]:
                        break
            assert time.monotonic() < deadline, "the closed connection's place was never freed"
    finally:
        for client in held:
            client.close()
