"""Requests that wait (long-polls, event streams): threads of their own, and how far behind a reader is.

A long-poll or an event stream holds its thread while it waits; served by the pool that
answers everything else, a few of them would stop every poll, queue call and download. They
are handed to ``HeldPool`` instead, whose threads start as needed up to a limit the app sizes
above its own caps (media/waiting.py). A stream also needs to know how much of its answer its
client has not read yet, to close a slow reader rather than buffer for it: ``UNSENT_BYTES``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from waitress.channel import HTTPChannel
from waitress.task import ThreadedTaskDispatcher, WSGITask

# In every request's environ: a callable giving how many bytes of the connection's answer are not sent yet
# (an event stream closes a reader that falls this far behind, rather than buffer for it).
UNSENT_BYTES = "mediacache.unsent_bytes"


class Task(WSGITask):
    """waitress's request task, whose environ also says how much of the answer is still unsent."""

    def get_environment(self) -> dict:
        environ = super().get_environment()  # built once per task, then reused
        if UNSENT_BYTES not in environ:
            channel = self.channel
            environ[UNSENT_BYTES] = lambda: channel.total_outbufs_len
        return environ


class WaitingRequests(HTTPChannel):
    """The part of the connection that says whether its next request may wait for long."""

    task_class = Task

    def request_waits(self, waits: Callable[[str, str], bool]) -> bool:
        """Whether the request to serve next may wait for long (``waits(path, query)``): it goes to the held pool."""
        request = self.requests[0] if self.requests else None
        return (
            request is not None
            and request.error is None
            and request.command == "GET"
            and waits(request.path, request.query)
        )


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
