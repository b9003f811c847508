"""Answers on waitress's main loop: a poll answered from memory without handing it to a thread.

Handing a request to a thread costs a queue, a wake-up, the GIL passed back and forth and
the trigger pulled at the end: for a poll answered from memory, more than the answer itself.
So a GET or HEAD for a path in ``main_loop_paths`` is first offered to the app on the main
loop, with ``environ[ON_MAIN_LOOP]`` set. The app either answers from memory there, never
waiting on a disk, a lock held for long, or the database, or raises ``NeedsThread`` before it
starts its answer; the request then goes to a thread as any other. An answer on the loop must
be small (a JSON document): past the output high watermark a writer waits for the loop, which
would be waiting on itself.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.task import ThreadedTaskDispatcher

from .waiting import HeldPool, WaitingRequests

ON_MAIN_LOOP = "mediacache.on_main_loop"  # in the environ of a request offered to the main loop


class NeedsThread(Exception):  # a signal, not an error
    """Raised by an app offered a request on the main loop, before answering, when memory cannot answer it."""


class MainLoopAnswers(HTTPChannel):
    """A connection that answers a request on the main loop when its dispatcher offers it there."""

    _reader: int | None = None  # the thread reading this connection (the main loop's), while it reads
    _answer_after_read = False  # the request just read is to be offered to the main loop

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
        if (
            self.held is not None
            and isinstance(channel, WaitingRequests)
            and channel.request_waits(self.waiting_requests)
        ):
            self.held.add_task(channel)
            return
        paths = self.main_loop_paths
        if paths is not None and isinstance(channel, MainLoopAnswers) and channel.offer_to_main_loop(paths):
            return  # the channel answers it once the read is parsed
        super().add_task(channel)
