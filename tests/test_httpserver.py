"""mediacache's waitress: the main loop leaves a running request's output to its thread."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

import pytest
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer

from mediacache.httpserver import Channel, make_server


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


@pytest.fixture
def running():
    """Start a server made by make_server in a thread; stop it afterwards."""
    started = []

    def start(app, **options):
        server = make_server(app, threads=2, **options)
        thread = threading.Thread(target=server.run, daemon=True)
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

    def stream(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
        return (block for _ in range(64))

    server = running(stream, host="127.0.0.1", port=0, outbuf_high_watermark=256 * 1024)
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's output piles up
        client.settimeout(20)
        client.connect(server.socket.getsockname())
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.3)  # not reading yet: the thread fills the socket, then the outbuf past the watermark
        received = bytearray()
        while chunk := client.recv(1 << 16):
            received += chunk
    assert received.endswith(body) and received.startswith(b"HTTP/1.1 200")


def test_app_py_serves_through_this_waitress(tmp_path, monkeypatch):
    """``python app.py`` must not fall back to waitress as released (its busy loop is what this module fixes)."""
    import signal

    import waitress

    import app as entry
    from mediacache import httpserver, jobs, lifecycle, logconfig
    from tests.helpers import ADMIN_PASSWORD, LiveServer

    for name, value in LiveServer(tmp_path, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD).env.items():
        if name.startswith("MEDIACACHE_"):
            monkeypatch.setenv(name, value)
    # Everything main() does to the process besides building the app and serving it.
    for module, name in ((logconfig, "configure_logging"), (jobs, "limit_malloc_arenas"),
                         (jobs, "freeze_long_lived_objects"), (lifecycle, "start_scheduler"),
                         (lifecycle, "stop_scheduler"), (signal, "signal")):  # fmt: skip
        monkeypatch.setattr(module, name, lambda *args: None)
    served = []
    monkeypatch.setattr(httpserver, "serve", lambda app, **options: served.append(("ours", options)))
    monkeypatch.setattr(waitress, "serve", lambda app, **options: served.append(("stock", options)))
    assert entry.main() == 0
    ((server, options),) = served
    assert server == "ours" and options["threads"] == 8 and options["port"] > 0
