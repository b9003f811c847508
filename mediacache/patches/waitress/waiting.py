"""Requests that wait (long-polls, event streams): threads of their own, and how far behind a reader is.

A long-poll or an event stream holds its thread while it waits; served by the pool that
answers everything else, a few of them would stop every poll, queue call and download. They
are handed to ``HeldPool`` instead, whose threads start as needed up to a limit the app sizes
above its own caps (media/waiting.py). A stream also needs to know how much of its answer its
client has not read yet, to close a slow reader rather than buffer for it: ``UNSENT_BYTES``; and
whether its client has gone, to give its slot back at once rather than at its next failed
write: ``PEER_GONE``.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable

from waitress.channel import HTTPChannel
from waitress.task import ThreadedTaskDispatcher, WSGITask

# In every request's environ: a callable giving how many bytes of the connection's answer are not sent yet
# (an event stream closes a reader that falls this far behind, rather than buffer for it).
UNSENT_BYTES = "mediacache.unsent_bytes"
# In every request's environ: a callable saying whether the client has closed its end. waitress does
# not read a connection while it serves a request there, so a waiting request would never learn of it.
PEER_GONE = "mediacache.peer_gone"


def _peer_gone(channel: HTTPChannel) -> bool:
    if not channel.connected:
        return True
    try:
        poller = select.poll()
        poller.register(channel.socket, select.POLLIN | select.POLLRDHUP)
        ready = poller.poll(0)
        if not ready:
            return False
        if ready[0][1] & (select.POLLHUP | select.POLLERR | select.POLLRDHUP):
            return True
        # Readable: either a pipelined request (still there) or the end of the stream (gone). Peeked, not read.
        return channel.socket.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class Task(WSGITask):
    """waitress's request task, whose environ also says how much of the answer is still unsent."""

    def get_environment(self) -> dict:
        environ = super().get_environment()  # built once per task, then reused
        if UNSENT_BYTES not in environ:
            channel = self.channel
            environ[UNSENT_BYTES] = lambda: channel.total_outbufs_len
            environ[PEER_GONE] = lambda: _peer_gone(channel)
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
