"""Held connections: what one connection, one client and the process may hold of the server.

waitress as released stops accepting at 100 connections and watches them with ``select``,
which fails past descriptor 1,024; ~98 idle or slowloris connections locked every other
client out. The limit is an option here (``connection_limit``), the loop moves to ``poll``
once a descriptor is past select's reach (``run_loop``), and the listener's periodic
maintenance closes a connection idle for ``channel_timeout`` (waitress's own rule) and, ours,
one whose request has been arriving for longer than ``header_timeout`` without its headers
finishing: a slowloris that sends a byte now and then is never idle. Likewise one whose body
is still arriving ``body_timeout`` after its headers: a body sent a byte every few seconds
would otherwise hold its connection for ever. With ``max_connections_per_address``, one client
address cannot hold more than that many connections (off by default: behind a reverse proxy
every client has the proxy's address). ``raise_open_file_limit`` lets the process hold the
descriptors all that needs.
"""

from __future__ import annotations

import logging
import resource
import time
from collections import Counter
from collections.abc import Callable

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer

log = logging.getLogger(__name__)

SELECT_LIMIT = 1024  # FD_SETSIZE: select() cannot watch a descriptor numbered this or higher


class ConnectionLimits(HTTPChannel):
    """A connection that counts against its client address and knows how long its request has been arriving."""

    request_started = 0.0  # time.time() when the first byte of the request being read arrived
    body_started = 0.0  # time.time() when the headers of the request being read were complete; 0 before
    _timed = None  # the request (parser) the two times above are for
    _counted_address = None  # the client address this connection counts against, under a per-address limit

    def __init__(self, server, sock, addr, adj, map=None) -> None:
        super().__init__(server, sock, addr, adj, map)
        counts = getattr(server, "connections_by_address", None)
        if counts is not None:
            self._counted_address = address = addr[0] if isinstance(addr, tuple) else addr
            counts[address] += 1
            if counts[address] > server.max_connections_per_address:
                # One client must not take the whole connection limit: closed unanswered on the next pass.
                self.will_close = True

    def del_channel(self, map=None) -> None:
        super().del_channel(map)
        address, self._counted_address = self._counted_address, None
        if address is not None:
            counts = self.server.connections_by_address
            counts[address] -= 1
            if counts[address] <= 0:
                del counts[address]

    def received(self, data: bytes) -> bool:
        try:
            return super().received(data)
        finally:
            # After parsing, not before: one read may finish a request and begin the next (pipelining).
            self._note_progress(time.time())

    def _note_progress(self, now: float) -> None:
        """Note when the request being read began, and when its headers were complete."""
        request = self.request
        if request is not self._timed:
            self._timed = request
            self.request_started, self.body_started = now, 0.0
        if request is not None and request.headers_finished and not self.body_started:
            self.body_started = now

    def stuck_in_headers(self, cutoff: float) -> bool:
        """True if the request being read began before ``cutoff`` and its headers are still not complete."""
        request = self.request
        return request is not None and not request.headers_finished and self.request_started < cutoff

    def stuck_in_body(self, cutoff: float) -> bool:
        """True if the request being read finished its headers before ``cutoff`` and its body is still not complete."""
        request = self.request
        return request is not None and request.headers_finished and 0 < self.body_started < cutoff


def limit_connections(
    listener: BaseWSGIServer,
    header_timeout: float | None,
    body_timeout: float | None,
    max_connections_per_address: int,
) -> None:
    """Apply the per-address limit and the slow-request timeouts to a listener of ``ConnectionLimits`` channels."""
    if max_connections_per_address > 0:
        listener.max_connections_per_address = max_connections_per_address
        listener.connections_by_address = Counter()
    if header_timeout is not None or body_timeout is not None:
        listener.maintenance = _maintenance_closing_slow_requests(listener, header_timeout, body_timeout)


def _maintenance_closing_slow_requests(
    listener: BaseWSGIServer, header_timeout: float | None, body_timeout: float | None
) -> Callable[[float], None]:
    """The listener's periodic maintenance (idle connections), closing slow headers and slow bodies as well."""
    idle_maintenance = listener.maintenance

    def maintenance(now: float) -> None:
        idle_maintenance(now)
        header_cutoff = now - header_timeout if header_timeout is not None else 0.0
        body_cutoff = now - body_timeout if body_timeout is not None else 0.0
        for channel in list(listener.active_channels.values()):
            # A connection with a request running is busy, not slow (as waitress's idle rule has it);
            # it reads nothing more until that request ends, so it cannot trickle meanwhile.
            if (
                isinstance(channel, ConnectionLimits)
                and not channel.requests
                and (channel.stuck_in_headers(header_cutoff) or channel.stuck_in_body(body_cutoff))
            ):
                channel.will_close = True  # the loop closes it on its next pass

    return maintenance


def run_loop(socket_map: dict, timeout: float) -> None:
    """waitress's main loop, on select() while every descriptor fits it, on poll() past that.

    waitress's poll() builds a new poll object and registers every descriptor on each pass,
    which made a bare callable ~5-10% slower at 64 keep-alive clients than select().
    """
    while socket_map:
        if max(socket_map) < SELECT_LIMIT:
            wasyncore.poll(timeout, socket_map)
        else:
            wasyncore.poll2(timeout, socket_map)


def raise_open_file_limit(wanted: int) -> int:
    """Raise this process's soft limit on open files toward ``wanted`` (never past the hard limit); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %s to %s: %s", soft, target, exc)
    return soft
