"""waitress, with its main loop kept from spinning, and answering from memory itself when it can.

Every change to waitress lives here. It rests on waitress's internals (a subclass of
``HTTPChannel`` with a copy of part of its ``service``, a ``ThreadedTaskDispatcher``, and
``create_server``'s ``_dispatcher`` test shim), so it is tied to the versions it was tested
with: outside them ``serve`` runs waitress as released (no main-loop answers; every request
goes to a thread) and the log says so once.

**The spin.** waitress's main loop watches a connection for writability whenever it has
unsent bytes. But a request thread sends its own answer as it writes it (``send_bytes`` is
1), holding the connection's output lock. Meanwhile the socket is writable, so ``select``
returns at once; the loop fails to take the lock, rescans every connection and selects
again. That spin holds the GIL, so the request thread waits longer to finish sending, so
the loop spins longer. At 64 keep-alive clients it took a bare WSGI callable from 7,000
requests/s to 1,500 with a p99 of 150 ms (``bench/README.md``, item 4). While a request
runs, the loop now waits for that thread instead: the thread flushes its own writes, then
pulls the loop's trigger when it ends or leaves bytes unsent. The loop still takes over
mid-request when output passes the high watermark, because that is when the thread stops
and waits for it.

**Answers on the main loop.** Handing a request to a thread costs a queue, a wake-up, the
GIL passed back and forth and the trigger pulled at the end: for a poll answered from
memory, more than the answer itself. So a GET or HEAD for a path in ``main_loop_paths`` is
first offered to the app on the main loop, with ``environ[ON_MAIN_LOOP]`` set. The app
either answers from memory there, never waiting on a disk, a lock held for long, or the
database, or raises ``NeedsThread`` before it starts its answer; the request then goes to
a thread as any other. An answer on the loop must be small (a JSON document): past the
output high watermark a writer waits for the loop, which would be waiting on itself.

**Held connections.** waitress as released stops accepting at 100 connections and watches
them with ``select``, which fails past descriptor 1,024; ~98 idle or slowloris connections
locked every other client out. The limit is an option here (``connection_limit``), the loop
moves to ``poll`` once a descriptor is past select's reach, and the listener's periodic
maintenance closes a connection idle for ``channel_timeout`` (waitress's own rule) and,
ours, one whose request has been arriving for longer than ``header_timeout`` without its
headers finishing: a slowloris that sends a byte now and then is never idle. Likewise one
whose body is still arriving ``body_timeout`` after its headers: a body sent a byte every
few seconds would otherwise hold its connection for ever. With ``max_connections_per_address``,
one client address cannot hold more than that many connections (off by default: behind a
reverse proxy every client has the proxy's address).

**Files.** waitress sends a file answer from its main loop, reading each block into a bytes
object and sending it again, all on one thread. A file that can send itself (``send_to``,
as ``mediacache.web.routes.files.FileSpan`` does with ``os.sendfile``) is sent that way instead:
at a round start, 256 clients fetching one file at once, that took us from 0.41x to about
0.7x nginx (``bench/README.md``).
"""

from __future__ import annotations

import logging
import re
import resource
import threading
import time
from collections import Counter
from collections.abc import Callable

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.buffers import ReadOnlyFileBasedBuffer
from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ThreadedTaskDispatcher, WSGITask

from . import declare

log = logging.getLogger(__name__)

PATCH = declare("waitress main loop", "waitress", ">=3.0.2,<3.1")
_DISCONNECTED = wasyncore._DISCONNECTED  # the errors waitress's send() takes for a client gone

ON_MAIN_LOOP = "mediacache.on_main_loop"  # in the environ of a request offered to the main loop
# In every request's environ: a callable giving how many bytes of the connection's answer are not sent yet
# (an event stream closes a reader that falls this far behind, rather than buffer for it).
UNSENT_BYTES = "mediacache.unsent_bytes"


class NeedsThread(Exception):  # a signal, not an error
    """Raised by an app offered a request on the main loop, before answering, when memory cannot answer it."""


class Task(WSGITask):
    """waitress's request task, whose environ also says how much of the answer is still unsent."""

    def get_environment(self) -> dict:
        environ = super().get_environment()  # built once per task, then reused
        if UNSENT_BYTES not in environ:
            channel = self.channel
            environ[UNSENT_BYTES] = lambda: channel.total_outbufs_len
        return environ


class Channel(HTTPChannel):
    """An HTTP connection whose socket is watched for writing only when the loop has work."""

    task_class = Task

    _reader: int | None = None  # the thread reading this connection (the main loop's), while it reads
    _answer_after_read = False  # the request just read is to be offered to the main loop
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

    def _flush_some(self, do_close: bool = True) -> bool:
        # waitress's own, except that a file answer whose file can send itself (a FileSpan)
        # goes out with sendfile(): no block read into a bytes object and sent again.
        sent = 0
        while True:
            outbuf = self.outbufs[0]
            remaining = outbuf.__len__()
            file = getattr(outbuf, "file", None) if type(outbuf) is ReadOnlyFileBasedBuffer else None
            send_to = getattr(file, "send_to", None)
            while remaining > 0:
                if send_to is not None:
                    count = self._send_file(send_to, remaining, do_close)
                else:
                    count = self.send(outbuf.get(self.sendbuf_len), do_close=do_close)
                if not count:
                    break
                outbuf.skip(count, True)
                remaining -= count
                sent += count
                self.total_outbufs_len -= count
            if remaining > 0 or len(self.outbufs) == 1:
                break  # the socket is full, or everything is sent
            finished = self.outbufs.pop(0)
            try:
                finished.close()
            except Exception:
                self.logger.exception("Unexpected error when closing an outbuf")
        if sent:
            self.last_activity = time.time()
        return sent > 0

    def _send_file(self, send_to: Callable[[int, int], int], size: int, do_close: bool) -> int:
        """Up to ``size`` bytes of a file answer sent by its file; 0 when the socket takes no more."""
        try:
            count = send_to(self._fileno, size)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno not in _DISCONNECTED:
                raise
            if do_close:
                self.handle_close()
            return 0
        if not count:  # the file ends before the length announced: the answer cannot be finished
            self.will_close = True
        return count

    def stuck_in_headers(self, cutoff: float) -> bool:
        """True if the request being read began before ``cutoff`` and its headers are still not complete."""
        request = self.request
        return request is not None and not request.headers_finished and self.request_started < cutoff

    def stuck_in_body(self, cutoff: float) -> bool:
        """True if the request being read finished its headers before ``cutoff`` and its body is still not complete."""
        request = self.request
        return request is not None and request.headers_finished and 0 < self.body_started < cutoff

    def writable(self) -> bool:
        if self.requests and not (self.will_close or self.close_when_flushed):
            # A request thread owns the output until it ends, unless it waits at the watermark.
            return self.total_outbufs_len > self.adj.outbuf_high_watermark
        return super().writable()

    def handle_read(self) -> None:
        self._reader = threading.get_ident()
        try:
            super().handle_read()  # parses what arrived; a complete request goes to Dispatcher.add_task
        finally:
            self._reader = None
        if self._answer_after_read:
            self._answer_after_read = False
            self._answer_on_main_loop()

    def request_waits(self, waits: Callable[[str, str], bool]) -> bool:
        """Whether the request to serve next may wait for long (``waits(path, query)``): it goes to the held pool."""
        request = self.requests[0] if self.requests else None
        return (
            request is not None
            and request.error is None
            and request.command == "GET"
            and waits(request.path, request.query)
        )

    def offer_to_main_loop(self, paths: re.Pattern) -> bool:
        """Take the request just read to the main loop, if it is one to try there (called by the dispatcher)."""
        if self._reader != threading.get_ident():  # a request thread dispatching a pipelined request
            return False
        request = self.requests[0]
        # A request that failed to parse has no command or path: waitress answers its error (a 400).
        self._answer_after_read = (
            request.error is None
            and request.command in ("GET", "HEAD")
            and not (request.content_length or request.chunked)
            and paths.match(request.path) is not None
        )
        return self._answer_after_read

    def _answer_on_main_loop(self) -> None:
        # HTTPChannel.service, for one request, on this thread, giving way to a thread on NeedsThread.
        request = self.requests[0]
        task = self.task_class(self, request)
        task.get_environment()[ON_MAIN_LOOP] = True  # the environ is built once per task, then reused
        try:
            task.service()
        except NeedsThread:
            self.server.add_task(self)  # not read by the main loop now: it goes to a thread
            return
        except ClientDisconnected:
            task.close_on_finish = True
        except Exception:
            self.logger.exception("Exception answering %s on the main loop", request.path)
            if not task.wrote_header:
                self.server.add_task(self)  # a thread answers it the usual way, a 500 included
                return
            task.close_on_finish = True
        with self.requests_lock:
            if task.close_on_finish:
                self.close_when_flushed = True
                for queued in self.requests:
                    queued.close()
                self.requests = []
            else:
                if self.current_outbuf_count > 0:
                    self.current_outbuf_count = self.adj.outbuf_high_watermark  # next answer: a new outbuf
                request.close()
                self.requests.pop(0)
                if self.connected and self.requests:
                    self.server.add_task(self)  # pipelined requests go to a thread, in order
                elif self.request is not None and self.request.expect_continue and self.request.headers_finished:
                    self.send_continue()
        self.last_activity = time.time()


class HeldPool(ThreadedTaskDispatcher):
    """Threads for requests that wait (long-polls, event streams), apart from the pool that answers the rest.

    Started as they are needed, up to ``limit``: a hundred clients waiting must not take the
    threads that answer polls, queue calls and files. The app caps its waiters below ``limit``
    and answers past its caps at once, so a request here never waits long for a thread.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def start_new_thread(self, target, thread_no) -> None:
        threading.Thread(target=target, name=f"waitress-held-{thread_no}", args=(thread_no,), daemon=True).start()

    def add_task(self, task) -> None:
        with self.lock:
            idle = len(self.threads) - self.stop_count - self.active_count
            grow = idle <= len(self.queue) and len(self.threads) < self.limit
            count = len(self.threads) + 1
        if grow:
            self.set_thread_count(count)
        super().add_task(task)


class Dispatcher(ThreadedTaskDispatcher):
    """waitress's thread pool, except for requests the main loop answers itself and requests that wait."""

    def __init__(
        self,
        main_loop_paths: re.Pattern | None,
        on_shutdown: Callable[[], None] | None = None,
        waiting_requests: Callable[[str, str], bool] | None = None,
        waiting_threads: int = 0,
    ) -> None:
        super().__init__()
        self.main_loop_paths = main_loop_paths
        self.on_shutdown = on_shutdown
        self.waiting_requests = waiting_requests
        self.held = HeldPool(waiting_threads) if waiting_requests is not None and waiting_threads > 0 else None

    def shutdown(self, cancel_pending: bool = True, timeout: float = 5) -> bool:
        # waitress calls this when its loop ends (SIGTERM, Ctrl-C) and then waits up to
        # ``timeout`` for the request threads: the hook lets the server's own stop run meanwhile
        # (it wakes the waiting requests, which then end at once).
        hook, self.on_shutdown = self.on_shutdown, None
        if hook is not None:
            hook()
        held_stopped = self.held.shutdown(cancel_pending, timeout) if self.held is not None else True
        return super().shutdown(cancel_pending, timeout) and held_stopped

    def add_task(self, channel) -> None:
        if self.held is not None and isinstance(channel, Channel) and channel.request_waits(self.waiting_requests):
            self.held.add_task(channel)
            return
        paths = self.main_loop_paths
        if paths is not None and isinstance(channel, Channel) and channel.offer_to_main_loop(paths):
            return  # the channel answers it once the read is parsed
        super().add_task(channel)


def make_server(
    app,
    main_loop_paths: re.Pattern | None = None,
    header_timeout: float | None = None,
    on_shutdown: Callable[[], None] | None = None,
    body_timeout: float | None = None,
    max_connections_per_address: int = 0,
    waiting_requests: Callable[[str, str], bool] | None = None,
    waiting_threads: int = 0,
    **options,
):
    """A waitress server (any of ``waitress.serve``'s options) whose connections are ``Channel``s.

    GET and HEAD requests for ``main_loop_paths`` are offered to ``app`` on the main loop first.
    A connection whose request headers take longer than ``header_timeout`` seconds is closed,
    and so is one whose request body takes longer than ``body_timeout`` seconds after its headers.
    A connection from a client address that already holds ``max_connections_per_address`` is
    closed unanswered (0: no such limit).
    ``on_shutdown`` runs when the loop stops, before waitress waits for its request threads.
    GET requests for which ``waiting_requests(path, query)`` is true (they may wait for long) are
    served by up to ``waiting_threads`` threads of their own, never by the ``threads`` of the rest.
    The loop uses ``poll`` unless ``asyncore_use_poll=False`` is passed.
    """
    options.setdefault("asyncore_use_poll", True)  # select() fails on descriptors past 1,024
    dispatcher = Dispatcher(main_loop_paths, on_shutdown, waiting_requests, waiting_threads)
    dispatcher.set_thread_count(Adjustments(**options).threads)
    # create_server's _dispatcher is marked a test shim, but it is its only way in (tests guard it).
    listeners: dict = {}  # waitress's socket map: one listener per address, then the connections
    server = create_server(app, map=listeners, _dispatcher=dispatcher, **options)
    for listener in listeners.values():
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = Channel
            if max_connections_per_address > 0:
                listener.max_connections_per_address = max_connections_per_address
                listener.connections_by_address = Counter()
            if header_timeout is not None or body_timeout is not None:
                listener.maintenance = _maintenance_closing_slow_requests(listener, header_timeout, body_timeout)
    server.socket_map = listeners
    return server


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
                isinstance(channel, Channel)
                and not channel.requests
                and (channel.stuck_in_headers(header_cutoff) or channel.stuck_in_body(body_cutoff))
            ):
                channel.will_close = True  # the loop closes it on its next pass

    return maintenance


SELECT_LIMIT = 1024  # FD_SETSIZE: select() cannot watch a descriptor numbered this or higher


def _loop(socket_map: dict, timeout: float) -> None:
    """waitress's main loop, on select() while every descriptor fits it, on poll() past that.

    waitress's poll() builds a new poll object and registers every descriptor on each pass,
    which made a bare callable ~5-10% slower at 64 keep-alive clients than select().
    """
    while socket_map:
        if max(socket_map) < SELECT_LIMIT:
            wasyncore.poll(timeout, socket_map)
        else:
            wasyncore.poll2(timeout, socket_map)


def serve(app, **options) -> None:
    """Serve ``app`` until interrupted (options as for ``make_server``), then close every socket.

    With a waitress this was not tested with (patches/waitress.py), waitress runs as released.
    """
    if not PATCH.applies():
        _serve_as_released(app, **options)
        return
    server = make_server(app, **options)
    try:
        try:
            _loop(server.socket_map, server.adj.asyncore_loop_timeout)
        except (SystemExit, KeyboardInterrupt):
            # As waitress's run() does: wait a moment for the request threads, then give up on them.
            server.task_dispatcher.shutdown()
    finally:
        # Nobody is answered from now on: refuse new connections instead of leaving them in the backlog.
        wasyncore.close_all(server.socket_map, ignore_all=True)


def _serve_as_released(
    app,
    main_loop_paths=None,
    header_timeout=None,
    on_shutdown=None,
    body_timeout=None,
    max_connections_per_address=0,
    waiting_requests=None,
    waiting_threads=0,
    **options,
) -> None:
    """waitress's own server and loop: no main-loop answers, timeouts or per-address limit; ``on_shutdown`` runs.

    Requests that wait share the one pool, so it grows by ``waiting_threads`` to leave the others theirs.
    """
    if waiting_requests is not None:
        options["threads"] = options.get("threads", Adjustments.threads) + waiting_threads
    try:
        create_server(app, **options).run()
    finally:
        if on_shutdown is not None:
            on_shutdown()


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
