"""What happened to entries, told to whoever waits: long-polls and event streams (issue 18).

An in-process publish/subscribe hub. Each state transition, progress write and delete
publishes one event AFTER its commit, carrying a snapshot of the row (rendered per
reader: the file URLs depend on the host each reader asked under). Events get ids that
keep growing across restarts (milliseconds at start + a counter), so a stream resumed
with ``Last-Event-ID`` from a previous process is simply behind, never ahead.

Memory is bounded whatever the readers do: the hub keeps the last ``EVENTS_BUFFER``
events, and apart from them the last ``EVENTS_BUFFER`` final events (completed, failed,
deleted), no older than ``EVENTS_REPLAY_SECONDS``; a reader keeps only its cursor.
A reader that falls behind the buffer is told so (``missed``), never queued for.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from ..core.states import CacheState, Status
from ..db.extensions import db
from ..db.models import Media
from ..jobs.runner import get_runner
from .render import snapshot

EXTENSION_KEY = "mediacache.events"
PROGRESS = "media.progress"
COMPLETED = "media.completed"
FAILED = "media.failed"
DELETED = "media.deleted"
KINDS = (PROGRESS, COMPLETED, FAILED, DELETED)
FINAL_KINDS = frozenset({COMPLETED, FAILED, DELETED})
KIND_OF_STATUS = {Status.COMPLETED: COMPLETED, Status.FAILED: FAILED, Status.CANCELLED: FAILED}


@dataclass
class Event:
    """One thing that happened to an entry, as it stood right after the commit."""

    id: int
    kind: str
    media_id: str
    owner: str | None  # the username that requested the entry
    row: dict[str, Any]  # the row's snapshot (render.snapshot)
    at: float  # time.time() right after the commit: when it happened, as this process saw it
    rendered: dict[tuple, bytes] = field(default_factory=dict)  # per roots, filled by readers


class EventHub:
    """The recent events, and a condition every reader waits on."""

    def __init__(self, capacity: int, replay_seconds: float) -> None:
        self.replay_seconds = replay_seconds
        self._recent: deque[Event] = deque(maxlen=capacity)
        self._finals: deque[Event] = deque(maxlen=capacity)
        self._ids = itertools.count(int(time.time() * 1000))
        self._changed = threading.Condition()
        self._watchers: dict[str, set[threading.Event]] = {}
        self.closed = False
        self.last_id = next(self._ids)

    def publish(self, kind: str, row: dict[str, Any]) -> Event:
        """Record an event for the entry ``row`` and wake every reader."""
        with self._changed:
            event = Event(next(self._ids), kind, row["id"], row.get("requested_by"), row, time.time())
            self._recent.append(event)
            if kind in FINAL_KINDS:
                self._finals.append(event)
                for watcher in self._watchers.get(event.media_id, ()):
                    watcher.set()
            self.last_id = event.id
            self._changed.notify_all()
        return event

    def after(self, last_id: int) -> tuple[list[Event], bool]:
        """Events newer than ``last_id``, oldest first, and whether some of them are no longer held."""
        with self._changed:
            recent: list[Event] = []
            for event in reversed(self._recent):  # newest first: a reader is usually a few events behind
                if event.id <= last_id:
                    break
                recent.append(event)
            recent.reverse()
            oldest = self._recent[0].id if self._recent else self.last_id + 1
            if oldest <= last_id + 1:
                return recent, False
            # Progress between them is gone; final events of the last few minutes are not.
            cutoff = time.time() - self.replay_seconds
            finals = [event for event in self._finals if last_id < event.id < oldest and event.at >= cutoff]
            return finals + recent, True

    def wait(self, last_id: int, timeout: float) -> bool:
        """Wait for an event newer than ``last_id``, the hub closes or ``timeout`` passes; True if one came."""
        with self._changed:
            self._changed.wait_for(lambda: self.closed or self.last_id > last_id, timeout)
            return self.last_id > last_id

    def watch(self, media_id: str) -> threading.Event:
        """A flag set when ``media_id`` reaches a final event (or the hub closes); give it back with ``unwatch``."""
        watcher = threading.Event()
        with self._changed:
            if self.closed:
                watcher.set()
            self._watchers.setdefault(media_id, set()).add(watcher)
        return watcher

    def unwatch(self, media_id: str, watcher: threading.Event) -> None:
        """Stop watching (always, in a finally)."""
        with self._changed:
            watchers = self._watchers.get(media_id)
            if watchers is not None:
                watchers.discard(watcher)
                if not watchers:
                    del self._watchers[media_id]

    def close(self) -> None:
        """The server stops: every waiting reader wakes and ends."""
        with self._changed:
            self.closed = True
            for watchers in self._watchers.values():
                for watcher in watchers:
                    watcher.set()
            self._changed.notify_all()


class Slots:
    """At most ``limit`` holders at once; past it ``take`` says no at once (the caller answers without waiting)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Take a slot if one is free."""
        with self._lock:
            if self.held >= self.limit:
                return False
            self.held += 1
            return True

    def give_back(self) -> None:
        """Free a slot taken with ``take``."""
        with self._lock:
            self.held -= 1


class SlotsPerHolder:
    """At most a given number of slots per holder (an account's streams), counted apart from the shared cap."""

    def __init__(self) -> None:
        self.held: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, holder: str, limit: int) -> bool:
        """Take one of ``holder``'s slots if it has fewer than ``limit``."""
        with self._lock:
            if self.held.get(holder, 0) >= limit:
                return False
            self.held[holder] = self.held.get(holder, 0) + 1
            return True

    def give_back(self, holder: str) -> None:
        """Free a slot ``holder`` took."""
        with self._lock:
            left = self.held.get(holder, 0) - 1
            if left > 0:
                self.held[holder] = left
            else:
                self.held.pop(holder, None)


class Notifier:
    """The app's hub and the caps on waiting clients (a Flask extension)."""

    def __init__(self, app: Flask) -> None:
        config = app.config
        self.hub = EventHub(config["EVENTS_BUFFER"], config["EVENTS_REPLAY_SECONDS"])
        self.long_polls = Slots(config["LONGPOLL_MAX_WAITERS"])
        self.streams = Slots(config["EVENTS_MAX_STREAMS"])
        self.streams_of = SlotsPerHolder()
        app.extensions[EXTENSION_KEY] = self
        get_runner(app).progress_listeners.append(lambda media_id: publish_entry_change(media_id, app))


def get_notifier(app: Flask | None = None) -> Notifier:
    """The app's notifier."""
    return (app or current_app).extensions[EXTENSION_KEY]


def publish_entry_change(media_id: str, app: Flask | None = None) -> Event | None:
    """After a commit that changed ``media_id``: its event (completed, failed, else progress) to every reader."""
    app = app or current_app
    media = db.session.get(Media, media_id, populate_existing=True)
    if media is None:
        return None
    row = snapshot(media)
    return get_notifier(app).hub.publish(KIND_OF_STATUS.get(row["status"], PROGRESS), row)


def publish_entry_deleted(media_id: str, before: dict[str, Any]) -> Event:
    """After the commit of a DELETE: the entry as it is now (as it was, if its row went too)."""
    media = db.session.get(Media, media_id, populate_existing=True)
    # hard=entry: the row is gone; readers get it as it was, its file purged.
    row = snapshot(media) if media is not None else before | {"cache_state": CacheState.PURGED}
    return get_notifier().hub.publish(DELETED, row)


def visible(events: Iterable[Event], username: str | None, ids: frozenset[str] | None) -> list[Event]:
    """The events a reader may see: its own entries (``username``; None: an admin, all), narrowed to ``ids``."""
    return [
        event
        for event in events
        if (username is None or event.owner == username) and (ids is None or event.media_id in ids)
    ]
