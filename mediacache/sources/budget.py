"""How long one job or look-up may use the network, and how large a page it may read whole.

A ``Budget`` remembers every socket opened under it (netguard.py's connect point calls
``track``) and cuts them all (``shutdown``) when the deadline passes or the job is cancelled:
a socket timeout alone does not, as an origin that sends one byte a second never lets a
single read time out. netguard.py applies a budget to a thread (``bounded``) and caps reads.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any


class BudgetExceeded(OSError):
    """A connection or read after the job's time ran out or it was cancelled."""


@dataclass
class Budget:
    """How long one job or look-up may use the network, and how large a page it may read whole."""

    deadline: float  # time.monotonic()
    max_page_bytes: int
    cancel: threading.Event | None = None
    stopped: str | None = None  # "deadline" or "cancelled" once its connections were cut
    too_large: int | None = None  # set when a page or manifest ran past max_page_bytes
    _connections: list[tuple[int, Any, Any]] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self) -> None:
        """Raise BudgetExceeded if no more connections may be opened."""
        if self.stopped is None:
            if self.cancel is not None and self.cancel.is_set():
                self.stop("cancelled")
            elif time.monotonic() >= self.deadline:
                self.stop("deadline")
        if self.stopped is not None:
            raise BudgetExceeded(f"mediacache stopped this fetch: {self.stopped}")

    def track(self, sock: socket.socket) -> None:
        """Remember a new connection so the watchdog can cut it."""
        try:
            entry = (sock.fileno(), sock.getsockname(), sock.getpeername())
        except OSError:
            return
        with self._lock:
            if self.stopped is None:
                if len(self._connections) >= 64:  # a long HLS download opens many; keep the live ones
                    self._connections = [known for known in self._connections if _same_socket(known) is not None]
                self._connections.append(entry)
                return
        _cut(entry)
        self.check()

    def stop(self, reason: str) -> None:
        """Cut every connection opened under this budget and refuse new ones."""
        with self._lock:
            if self.stopped is None:
                self.stopped = reason
            entries, self._connections = self._connections, []
        for entry in entries:
            _cut(entry)


def _same_socket(entry: tuple[int, Any, Any]) -> socket.socket | None:
    """A duplicate of the tracked socket if its descriptor still holds that very connection.

    The descriptor may have been closed and reused (by a client of the server, say); the
    local and peer addresses tell the connection apart. TLS wraps the socket under the same
    descriptor, so this finds an https connection as well.
    """
    fd, local, peer = entry
    try:
        duplicate = os.dup(fd)
    except OSError:
        return None
    try:
        probe = socket.socket(fileno=duplicate)
    except OSError:
        os.close(duplicate)
        return None
    try:
        if probe.getsockname() == local and probe.getpeername() == peer:
            return probe
    except OSError:
        pass
    probe.close()
    return None


def _cut(entry: tuple[int, Any, Any]) -> None:
    """Shut the connection down: a read blocked on it in another thread returns at once."""
    probe = _same_socket(entry)
    if probe is not None:
        with probe, contextlib.suppress(OSError):
            probe.shutdown(socket.SHUT_RDWR)
