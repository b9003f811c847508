"""A round start: every client asks for the same file at the same moment, on a new connection, once.

wrk keeps its connections busy for a set time; a round start is a burst instead, where what
a player waits for is the time from the start of the round to the last byte of the file.
One thread and ``selectors``, like ``ab``: the client costs little next to the server.
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

RECEIVE_BYTES = 1 << 20


@dataclass
class _Client:
    sock: socket.socket
    request: bytes
    head: bytes = b""
    body_bytes: int = 0
    expected: int | None = None
    status: int | None = None
    finished: float | None = None


@dataclass
class Round:
    seconds: float  # from the first connect to the last byte of the last answer
    latencies_ms: list[float] = field(default_factory=list)  # per answered request, from the round's start
    body_bytes: int = 0
    failures: int = 0  # not answered, not 200, or short


def run_round(url: str, clients: int, timeout: float = 60) -> Round:
    """``clients`` simultaneous GETs of ``url``, each on its own new connection."""
    parts = urlsplit(url)
    address = (parts.hostname, parts.port or 80)
    request = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode()
    selector = selectors.DefaultSelector()
    buffer = bytearray(RECEIVE_BYTES)
    view = memoryview(buffer)
    started = time.perf_counter()
    pending = []
    for _ in range(clients):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(address)
        client = _Client(sock, request)
        selector.register(sock, selectors.EVENT_WRITE, client)
        pending.append(client)
    open_count = clients
    deadline = started + timeout
    while open_count and time.perf_counter() < deadline:
        for key, events in selector.select(timeout=1):
            client = key.data
            if events & selectors.EVENT_WRITE:
                try:
                    client.sock.send(client.request)  # ~80 bytes: one send
                except OSError:
                    selector.unregister(client.sock)
                    client.sock.close()
                    open_count -= 1
                    continue
                selector.modify(client.sock, selectors.EVENT_READ, client)
                continue
            try:
                count = client.sock.recv_into(buffer)
            except OSError:
                count = 0
            if count:
                _take(client, view[:count])
                continue
            client.finished = time.perf_counter()
            selector.unregister(client.sock)
            client.sock.close()
            open_count -= 1
    result = Round(seconds=time.perf_counter() - started)
    for client in pending:
        if client.sock.fileno() != -1:
            client.sock.close()
        answered = client.status == 200 and client.expected is not None and client.body_bytes == client.expected
        if answered and client.finished is not None:
            result.latencies_ms.append((client.finished - started) * 1000)
            result.body_bytes += client.body_bytes
        else:
            result.failures += 1
    return result


def _take(client: _Client, data: memoryview) -> None:
    """Count what arrived: the head is parsed once, the body only counted."""
    if client.expected is not None:
        client.body_bytes += len(data)
        return
    client.head += bytes(data)
    head, separator, rest = client.head.partition(b"\r\n\r\n")
    if not separator:
        return
    lines = head.decode("latin-1").split("\r\n")
    client.status = int(lines[0].split()[1])
    length = next((line.split(":", 1)[1] for line in lines[1:] if line.lower().startswith("content-length:")), None)
    client.expected = int(length) if length is not None else -1
    client.body_bytes = len(rest)
    client.head = b""


def hold_idle(url: str, count: int) -> list[socket.socket]:
    """``count`` connections that send nothing, as a browser keeps one open between requests."""
    parts = urlsplit(url)
    return [socket.create_connection((parts.hostname, parts.port or 80)) for _ in range(count)]


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] if ordered else float("nan")
