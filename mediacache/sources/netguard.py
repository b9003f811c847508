"""The egress guard: the address policy enforced where yt-dlp opens its sockets, and before.

Checking a URL before handing it to yt-dlp is not enough: redirects, playlist entries,
manifests and DNS rebinding all lead to connections the first check never saw. So
yt-dlp's connection factory is wrapped: while a policy is active on the current thread,
every host is resolved once, every address is checked, and the socket connects to an
address that passed (never to a second, possibly different, resolution).

The same connect point bounds time and memory: while a ``Budget`` is active, every socket
opened is remembered, and a watchdog cuts them all (``shutdown``) when the deadline passes
or the job is cancelled. A socket timeout alone does not do that: an origin that sends one
byte a second never lets a single read time out. Whole-body reads (pages, manifests) are
capped in size, so an endless page fails instead of filling memory.

The rules themselves (which hosts and addresses a policy allows) are addresspolicy.py's;
``refuse_forbidden_target`` applies them up front, before a URL is handed to yt-dlp.
"""

from __future__ import annotations

import contextvars
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from yt_dlp.networking.exceptions import TransportError

from ..core.errors import DomainError
from ..patches import yt_dlp as yt_dlp_patches
from .addresspolicy import AddressPolicy, AddressRefused  # AddressPolicy is also imported from here (ytdlp*.py)
from .budget import Budget

_active: contextvars.ContextVar[AddressPolicy | None] = contextvars.ContextVar("mediacache_policy", default=None)
_install_lock = threading.Lock()
_installed = False


@contextmanager
def enforced(policy: AddressPolicy) -> Iterator[AddressPolicy]:
    """Apply ``policy`` to every connection yt-dlp opens on this thread while inside."""
    _install()
    token = _active.set(policy)
    try:
        yield policy
    finally:
        _active.reset(token)


def _page_too_large(limit: int) -> Exception:
    # A TransportError, so yt-dlp treats it like any failed read (and the extractor says which page).

    return TransportError(f"the response is larger than mediacache's limit of {limit} bytes for a page")


_budget: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("mediacache_budget", default=None)


def _watch(budget: Budget, finished: threading.Event) -> None:
    while True:
        remaining = budget.deadline - time.monotonic()
        if remaining <= 0:
            budget.stop("deadline")
            return
        # A cancel event cannot be waited on together with ``finished``: look at it often.
        if finished.wait(min(remaining, 0.2) if budget.cancel is not None else remaining):
            return
        if budget.cancel is not None and budget.cancel.is_set():
            budget.stop("cancelled")
            return


@contextmanager
def bounded(budget: Budget) -> Iterator[Budget]:
    """Apply ``budget`` to every connection yt-dlp opens on this thread while inside."""
    _install()
    finished = threading.Event()
    threading.Thread(target=_watch, args=(budget, finished), daemon=True, name="netguard-watchdog").start()
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)
        finished.set()


_READ_CHUNK = 64 * 1024


def _capped_read(read, budget: Budget, on_too_large=None):
    """``read`` whose whole-body form (no size) stops past the budget's page limit."""

    def capped(amt: int | None = None, *args, **kwargs) -> bytes:
        if amt is not None and amt >= 0:
            return read(amt, *args, **kwargs)  # a streaming reader (the media download) bounds itself
        limit = budget.max_page_bytes
        chunks: list[bytes] = []
        total = 0
        while chunk := read(min(_READ_CHUNK, limit + 1 - total), *args, **kwargs):
            total += len(chunk)
            if total > limit:
                budget.too_large = limit
                if on_too_large is not None:
                    on_too_large()
                raise _page_too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    return capped


def cap_page_reads(response):
    """Make ``response.read()`` (a page or manifest read whole) fail past the active budget's limit."""
    budget = _budget.get()
    if budget is not None and response is not None:
        response.read = _capped_read(response.read, budget, response.close)
    return response


def _inflate(data: bytes, wbits: int) -> bytes:
    """zlib decoding that stops past the page limit: a small gzip body can inflate to gigabytes."""
    budget = _budget.get()
    if budget is None:
        return zlib.decompressobj(wbits).decompress(data)
    decoded = zlib.decompressobj(wbits).decompress(data, budget.max_page_bytes + 1)
    if len(decoded) > budget.max_page_bytes:
        budget.too_large = budget.max_page_bytes
        raise _page_too_large(budget.max_page_bytes)
    return decoded


# yt-dlp's request handlers whose every connection goes through a connect point wrapped below.
# curl_cffi connects inside libcurl, out of reach: yt-dlp is never given it.
GUARDED_HANDLERS = ("Urllib", "Requests", "Websockets")
# URL schemes those handlers may fetch: urllib's ftp:// opens its own sockets, unguarded.
GUARDED_SCHEMES = ("http", "https", "ws", "wss", "data")


def _install() -> None:
    """Route every connection of yt-dlp's handlers through the guard, and bound urllib's body decoding, once.

    Which functions of yt-dlp that replaces is patches/yt_dlp.py's business (and its version
    range); whether it still holds is proven by ``ytdlp_downloader.guard_self_check`` before
    anything is fetched.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        yt_dlp_patches.install_network_guard(_guarded, _check_response, _inflate)
        _installed = True


def _guarded(connect):
    """``connect`` checked against the active policy, its socket tracked by the active budget."""

    def guarded_create_connection(address, *args, **kwargs):
        policy = _active.get()
        budget = _budget.get()
        if budget is not None:
            budget.check()
        if policy is None:
            sock = connect(address, *args, **kwargs)
        else:
            sock = _connect_checked(policy, connect, address, *args, **kwargs)
        if budget is not None:
            budget.track(sock)
        return sock

    return guarded_create_connection


def _connect_checked(policy: AddressPolicy, connect, address, *args, **kwargs) -> socket.socket:
    host, port = address
    host = host.strip("[]")  # urllib3 may pass an IPv6 literal in brackets
    last_error: OSError | None = None
    for info in policy.resolve(host, port):
        try:
            # A numeric address: no second DNS answer can differ from the one checked.
            return connect((info[4][0], port), *args, **kwargs)
        except OSError as exc:
            last_error = exc
    raise last_error or OSError(f"could not connect to {host}")


def _check_response(resp) -> None:
    """Under a budget, refuse a brotli body (no bounded one-call decoder) and cap how much of a body is read."""
    budget = _budget.get()
    encodings = resp.headers.get("Content-encoding", "")
    if budget is not None and encodings.strip():
        if "br" in (encoding.strip() for encoding in encodings.split(",")):
            raise TransportError("the response is brotli-compressed, which mediacache did not ask for")
        resp.read = _capped_read(resp.read, budget)


def refuse_forbidden_target(url: str, config: dict) -> None:
    """Refuse, before any connection, a URL whose host the address policy forbids (DNS failure included)."""
    policy = AddressPolicy.from_config(config)
    try:
        policy.resolve(urlsplit(url).hostname or "", None)
    except AddressRefused:
        raise DomainError(
            "URL_NOT_ALLOWED",
            f"This URL is not allowed: {policy.refused[-1]}. mediacache fetches public http(s) URLs only.",
        ) from None
