"""Clients that wait to be told: a long-poll on one entry, and the event stream (issue 18).

Both wait on the hub of media/events.py, never on the database: while one waits it holds
no database connection, only its thread (a thread of the pool for waiting requests, see
patches/waitress/waiting.py) and a slot under its cap. Past the cap a long-poll is answered at once
with the entry as it is, and a stream is refused with 503 and Retry-After: either way the
client knows what to do next.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask

from ..core.errors import DomainError, shown
from ..core.states import RUNNING_STATES
from ..db.extensions import db
from .events import Event, get_notifier, visible
from .render import media_document, row_cache

MAX_WAIT = 30  # seconds a long-poll may ask for (issue 18)
# A waiting request looks this often whether it is still wanted (its client still there, its token still
# good): a client that left, or was logged out, gives its slot back within these seconds.
CHECK_EVERY = 2.0
RETRY_STREAM_AFTER = 5  # seconds a refused stream is told to wait before it tries again


def wait_for_final(
    app: Flask,
    media_id: str,
    seconds: float,
    roots: tuple[str, ...],
    client_gone: Callable[[], bool] | None = None,
) -> tuple[bytes, bool]:
    """The entry's media object once completed or failed, or after ``seconds`` as it is then; and whether it still runs.

    Answers at once if the entry is final already, or if every long-poll slot is taken; stops
    waiting (and frees its slot) once ``client_gone()`` says the client has left.
    """
    notifier = get_notifier(app)
    row = _row(media_id)
    if seconds > 0 and row["status"] in RUNNING_STATES and notifier.long_polls.take():
        try:
            # Watch first, then look: a final event between the look and the wait is not missed.
            watcher = notifier.hub.watch(media_id)
            try:
                row = _row(media_id)
                db.session.close()  # no connection held while waiting
                ends = time.monotonic() + seconds
                while row["status"] in RUNNING_STATES and (left := ends - time.monotonic()) > 0:
                    if watcher.wait(min(left, CHECK_EVERY)) or (client_gone is not None and client_gone()):
                        break
            finally:
                notifier.hub.unwatch(media_id, watcher)
        finally:
            notifier.long_polls.give_back()
        row = _row(media_id)
    return media_document(app, row, roots), row["status"] in RUNNING_STATES


def _row(media_id: str) -> dict[str, Any]:
    row = row_cache().get(media_id) if len(media_id) <= 36 else None
    if row is None:
        raise DomainError("NOT_FOUND", f"No media entry {shown(media_id)}.")
    return row


class StreamRequest:
    """What a stream was asked for, parsed by the view."""

    def __init__(
        self,
        username: str | None,
        ids: frozenset[str] | None,
        last_event_id: int | None,
        roots: tuple[str, ...],
        unsent_bytes: Callable[[], int] | None,
        still_wanted: Callable[[], bool] | None = None,
    ) -> None:
        self.username = username  # None: an admin, who sees every entry
        self.ids = ids
        self.last_event_id = last_event_id
        self.roots = roots
        self.unsent_bytes = unsent_bytes  # the server's count of this connection's unsent bytes, if it offers one
        # False once the client has left, or its token or role no longer allows this stream (checked every few s).
        self.still_wanted = still_wanted


def open_stream(app: Flask, asked: StreamRequest, account: str) -> Iterator[bytes]:
    """The event stream's body, once a stream slot is taken (503 STREAMS_FULL otherwise).

    ``account`` counts against EVENTS_MAX_STREAMS_PER_USER, so one account cannot take every slot.
    """
    notifier = get_notifier(app)
    if notifier.hub.closed:
        raise DomainError("STREAMS_FULL", "The server is stopping; connect again shortly.", retry_after=1)
    per_account = app.config["EVENTS_MAX_STREAMS_PER_USER"]
    if not notifier.streams_of.take(account, per_account):
        raise DomainError(
            "STREAMS_FULL",
            f"This account has {per_account} event streams open already; close one or long-poll the entry.",
            retry_after=RETRY_STREAM_AFTER,
        )
    if not notifier.streams.take():
        notifier.streams_of.give_back(account)
        raise DomainError(
            "STREAMS_FULL",
            f"All {notifier.streams.limit} event streams are taken; try again later or long-poll the entry.",
            retry_after=RETRY_STREAM_AFTER,
        )
    return _stream(app, asked, account)


def _stream(app: Flask, asked: StreamRequest, account: str) -> Iterator[bytes]:
    notifier = get_notifier(app)
    hub, config = notifier.hub, app.config
    heartbeat, lifetime = config["EVENTS_HEARTBEAT"], config["EVENTS_STREAM_LIFETIME"]
    max_unsent = config["EVENTS_MAX_UNSENT_BYTES"]
    ends = time.monotonic() + lifetime if lifetime else float("inf")
    # An id ahead of the newest (a clock set back before a restart, a made-up one) resumes from now.
    cursor = min(asked.last_event_id, hub.last_id) if asked.last_event_id is not None else hub.last_id
    resumed = asked.last_event_id is not None
    try:
        # Sent at once, so a client (and any proxy) sees the stream open before the first event.
        yield f"retry: 2000\n: connected; events after {cursor}\n\n".encode()
        last_write = time.monotonic()
        while not hub.closed and time.monotonic() < ends:
            if asked.still_wanted is not None and not asked.still_wanted():
                return  # the client left, or may no longer read this stream: its slot is free at once
            events, missed = hub.after(cursor)
            if missed and not resumed:
                return  # fell behind the buffer while writing: the client resumes with Last-Event-ID
            resumed = False
            if events:
                cursor = events[-1].id
            chunk = b"".join(_frame(app, event, asked.roots) for event in visible(events, asked.username, asked.ids))
            now = time.monotonic()
            if not chunk and now - last_write >= heartbeat:
                chunk = b": heartbeat\n\n"
            if chunk:
                if asked.unsent_bytes is not None and asked.unsent_bytes() > max_unsent:
                    return  # a reader this slow is closed, not queued for
                yield chunk
                last_write = now
            hub.wait(
                cursor, max(0.0, min(last_write + heartbeat, ends, time.monotonic() + CHECK_EVERY) - time.monotonic())
            )
    finally:
        notifier.streams.give_back()
        notifier.streams_of.give_back(account)


def _frame(app: Flask, event: Event, roots: tuple[str, ...]) -> bytes:
    """One Server-Sent Event: ``id``, ``event`` and the data ``{event, id, at, entry}`` on data lines."""
    frame = event.rendered.get(roots)
    if frame is None:
        entry = media_document(app, event.row, roots).strip()
        head = json.dumps({"event": event.kind, "id": event.media_id, "at": _iso_ms(event.at)})
        data = head[:-1].encode() + b', "entry": ' + entry + b"}"
        lines = b"".join(b"data: " + line + b"\n" for line in data.splitlines())
        frame = f"id: {event.id}\nevent: {event.kind}\n".encode() + lines + b"\n"
        if len(event.rendered) < 8:  # the hosts readers asked under: a few at most
            event.rendered[roots] = frame
    return frame


def _iso_ms(moment: float) -> str:
    """A time.time() as ISO 8601 UTC with milliseconds (the bench measures notification delays with it)."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment))
    return f"{whole}.{int(moment * 1000) % 1000:03d}Z"
