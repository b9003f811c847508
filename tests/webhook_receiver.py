"""A loopback webhook receiver for the tests and the bench: records every POST, answers as told."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One POST as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when its body had arrived

    @property
    def payload(self) -> dict[str, Any]:
        """The body as JSON."""
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A sender that hung up (cut off at its timeout, or killed) is what some tests do on purpose."""


class Receiver:
    """``answers``: statuses for the next POSTs in order (then 200); ``hold``: set to keep POSTs waiting."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[int] = []
        self.redirect_to = "/elsewhere"
        self.hold = threading.Event()
        self.hold.set()  # set: answer at once
        self._stopping = threading.Event()
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._cond:
                    receiver.received.append(Received(self.path, dict(self.headers), body, time.time()))
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver._cond.notify_all()
                while not receiver.hold.wait(0.05):
                    if receiver._stopping.is_set():
                        return
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> Receiver:
        """Serve in a background thread."""
        threading.Thread(target=self.httpd.serve_forever, name="webhook-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving; held requests end without an answer."""
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str = "/hook") -> str:
        """A URL on this receiver."""
        return self.base + path

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        """The POSTs once at least ``count`` have arrived."""
        with self._cond:
            arrived = self._cond.wait_for(lambda: len(self.received) >= count, timeout)
            assert arrived, f"{len(self.received)} of {count} POSTs arrived within {timeout} s"
            return list(self.received)
