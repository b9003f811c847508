"""waitress, with its main loop kept from spinning, and answering from memory itself when it can.

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
"""

from __future__ import annotations

import re
import threading
import time

from waitress.adjustments import Adjustments
from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ThreadedTaskDispatcher

from .patches import waitress as waitress_patch

ON_MAIN_LOOP = "mediacache.on_main_loop"  # in the environ of a request offered to the main loop


class NeedsThread(Exception):  # a signal, not an error
    """Raised by an app offered a request on the main loop, before answering, when memory cannot answer it."""


class Channel(HTTPChannel):
    """An HTTP connection whose socket is watched for writing only when the loop has work."""

    _reader: int | None = None  # the thread reading this connection (the main loop's), while it reads
    _answer_after_read = False  # the request just read is to be offered to the main loop

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

    def offer_to_main_loop(self, paths: re.Pattern) -> bool:
        """Take the request just read to the main loop, if it is one to try there (called by the dispatcher)."""
        if self._reader != threading.get_ident():  # a request thread dispatching a pipelined request
            return False
        request = self.requests[0]
        self._answer_after_read = (
            request.command in ("GET", "HEAD")
            and request.error is None
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


class Dispatcher(ThreadedTaskDispatcher):
    """waitress's thread pool, except for requests the main loop answers itself."""

    def __init__(self, main_loop_paths: re.Pattern | None) -> None:
        super().__init__()
        self.main_loop_paths = main_loop_paths

    def add_task(self, channel) -> None:
        paths = self.main_loop_paths
        if paths is not None and isinstance(channel, Channel) and channel.offer_to_main_loop(paths):
            return  # the channel answers it once the read is parsed
        super().add_task(channel)


def make_server(app, main_loop_paths: re.Pattern | None = None, **options):
    """A waitress server (any of ``waitress.serve``'s options) whose connections are ``Channel``s.

    GET and HEAD requests for ``main_loop_paths`` are offered to ``app`` on the main loop first.
    """
    dispatcher = Dispatcher(main_loop_paths)
    dispatcher.set_thread_count(Adjustments(**options).threads)
    # create_server's _dispatcher is marked a test shim, but it is its only way in (tests guard it).
    listeners: dict = {}  # waitress's socket map: one listener per address, then the connections
    server = create_server(app, map=listeners, _dispatcher=dispatcher, **options)
    for listener in listeners.values():
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = Channel
    return server


def serve(app, **options) -> None:
    """Serve ``app`` until interrupted (options as for ``make_server``).

    With a waitress this was not tested with (patches/waitress.py), waitress runs as released.
    """
    if not waitress_patch.PATCH.applies():
        options.pop("main_loop_paths", None)
        create_server(app, **options).run()
        return
    make_server(app, **options).run()
