"""One webhook POST under the network guard: checked at connect time, bounded in time and in what is read.

The host is resolved through the same address policy as downloads (``netguard.AddressPolicy``)
and the socket connects to an address that passed, so a DNS answer that changed since the URL
was registered cannot lead the POST to a private address. Redirects are not followed (a 3xx is
a failed try), one try ends after ``timeout`` seconds whatever the receiver does (a watchdog
shuts the socket down), and at most ``MAX_RESPONSE_BYTES`` of the answer are read.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .netguard import AddressPolicy, AddressRefused

MAX_RESPONSE_BYTES = 4096
USER_AGENT = "mediacache-webhook/1"


@dataclass(frozen=True)
class PostResult:
    """How one try went: the receiver's status (None if none came back) and, unless it was 2xx, why it failed."""

    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        """A 2xx came back."""
        return self.error is None


def post_json(
    url: str, body: bytes, headers: dict[str, str], policy: AddressPolicy, timeout: float,
    on_start: Callable[[Callable[[], None]], None] | None = None,
) -> PostResult:  # fmt: skip
    """POST ``body`` as JSON to ``url``; never raises for what the network or the receiver does.

    ``on_start`` is given a function that ends this try at once (the sender calls it when the server stops).
    """
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return PostResult(None, "the URL's port is not a number")
    host = parts.hostname or ""
    current = _Socket()
    if on_start is not None:
        on_start(current.cut)
    watchdog = threading.Timer(timeout, current.cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        infos = policy.resolve(host, port)
        sock = current.sock = _connect(infos, timeout)
        if current.was_cut:
            raise TimeoutError  # cut while connecting
        if parts.scheme == "https":
            sock = current.sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=timeout)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.sock = sock  # already connected to the checked address: http.client must not connect again
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", target, body=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, "Connection": "close", **headers,
        })  # fmt: skip
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)  # bounded: the answer's content does not matter, only its status
        status = response.status
    except AddressRefused as exc:
        return PostResult(None, str(exc))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        timed_out = current.was_cut or isinstance(exc, TimeoutError)
        return PostResult(None, f"no answer within {timeout:g} s" if timed_out else _describe(exc))
    finally:
        watchdog.cancel()
        current.close()
    if 200 <= status < 300:
        return PostResult(status, None)
    if 300 <= status < 400:
        return PostResult(status, f"HTTP {status}: redirects are not followed; register the final URL")
    return PostResult(status, f"HTTP {status}")


def _connect(infos: list[tuple], timeout: float) -> socket.socket:
    """A socket connected to the first address of ``infos`` (already checked by the policy) that answers."""
    last_error: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    raise last_error or OSError("no address to connect to")


class _Socket:
    """The socket of one try, as it is now (plain, then TLS), so that it can be cut from another thread."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.was_cut = False

    def cut(self) -> None:
        """End the try: a blocked connect, read or write returns at once."""
        self.was_cut = True
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # not connected yet, or already closed
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Release the socket."""
        if self.sock is not None:
            self.sock.close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
