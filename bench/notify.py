"""10. How soon a client learns that its job completed (issue 18), by each way of being told.

The reference is the completion as the server saw it: the ``at`` of the ``media.completed``
event, taken right after the commit of the final state. Each notifier watches the same job
from its queue call and returns the wall-clock time (``time.time()``, the same clock on the
same machine) at which its client knew. Each round queues a new job; the median over the
rounds is reported in milliseconds, with the worst in the note.

``NOTIFIERS`` is the hook: a function ``(server, media_id) -> seconds since the epoch`` per
kind. The webhook is one of them: each job is queued with a ``callback_url`` on a loopback
receiver in this process, which notes ``time.time()`` when a POST's body is in.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from calendar import timegm
from collections.abc import Callable

from tests.webhook_receiver import Receiver

from .tools import Server, median

ROUNDS = 5
TARGET_MS = 50.0
FINAL = ("completed", "failed", "cancelled")


def _entry(server: Server, media_id: str, query: str = "") -> dict:
    return server.live("GET", f"/api/media/{media_id}{query}", headers=server.headers, timeout=40)[2]


def by_polling(server: Server, media_id: str) -> float:
    """The game server's way: GET once a second until the entry is final."""
    while _entry(server, media_id)["status"] not in FINAL:
        time.sleep(1.0)
    return time.time()


def by_long_poll(server: Server, media_id: str) -> float:
    """GET ?wait=30 again and again until the entry is final."""
    while _entry(server, media_id, "?wait=30")["status"] not in FINAL:
        pass
    return time.time()


def by_event_stream(server: Server, media_id: str) -> float:
    """GET /api/events?ids=<id>, read until its media.completed (or failed) event."""
    request = urllib.request.Request(f"{server.live.base}/api/events?ids={media_id}", headers=server.headers)
    with urllib.request.urlopen(request, timeout=120) as stream:
        for line in stream:
            if line.startswith(b"event: media.") and line.strip() in (
                b"event: media.completed",
                b"event: media.failed",
            ):
                return time.time()
    raise AssertionError("the stream ended before the job did")


def by_webhook(receiver: Receiver) -> Callable[[Server, str], float]:
    """The POST to the job's ``callback_url`` has reached ``receiver``."""

    def watch(_server: Server, media_id: str) -> float:
        seen = 0
        while True:
            arrived = receiver.wait_for(seen + 1, timeout=300)
            for request in arrived[seen:]:
                if request.payload["entry"]["id"] == media_id:
                    return request.at
            seen = len(arrived)

    return watch


def notifiers(receiver: Receiver) -> dict[str, Callable[[Server, str], float]]:
    """Every way of being told, by name."""
    return {
        "1 s polling": by_polling,
        "long-poll": by_long_poll,
        "event stream": by_event_stream,
        "webhook": by_webhook(receiver),
    }


def _completed_at(server: Server, media_id: str, found: dict[str, float]) -> None:
    """The reference: the ``at`` (milliseconds, UTC) of the entry's media.completed event."""
    request = urllib.request.Request(f"{server.live.base}/api/events?ids={media_id}", headers=server.headers)
    with urllib.request.urlopen(request, timeout=120) as stream:
        for line in stream:
            if line.startswith(b"data: "):
                data = json.loads(line[6:])
                if data["event"] in ("media.completed", "media.failed"):
                    whole, _, millis = data["at"].rstrip("Z").partition(".")
                    found["at"] = timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + int(millis) / 1000
                    return


def _note(known: dict[str, float], kind: str, watch: Callable[[Server, str], float], server: Server, media_id: str):
    known[kind] = watch(server, media_id)


def completion_to_client(server: Server, origin, rounds: int = ROUNDS) -> list[dict]:
    """One row per notifier: milliseconds from the completion's commit to the client knowing."""
    receiver = Receiver().start()
    try:
        return _rows(_delays(server, origin, rounds, receiver), rounds)
    finally:
        receiver.stop()


def _delays(server: Server, origin, rounds: int, receiver: Receiver) -> dict[str, list[float]]:
    watched = notifiers(receiver)
    delays: dict[str, list[float]] = {kind: [] for kind in watched}
    for round_number in range(rounds):
        reference: dict[str, float] = {}
        known: dict[str, float] = {}
        # A new entry each round: the same source at a bitrate no other measurement asks for.
        bitrate = f"{200 + round_number}k"
        watchers: list[threading.Thread] = []
        status, _, body = server.queue(
            url=origin.url("/media/song.mp3"), profile="mp3", bitrate=bitrate, callback_url=receiver.url()
        )
        assert status == 201, body
        media_id = body["id"]
        watchers.append(threading.Thread(target=_completed_at, args=(server, media_id, reference)))
        for kind, watch in watched.items():
            watchers.append(threading.Thread(target=_note, args=(known, kind, watch, server, media_id)))
        for watcher in watchers:
            watcher.start()
        for watcher in watchers:
            watcher.join(300)
        for kind in watched:
            delays[kind].append((known[kind] - reference["at"]) * 1000)
    return delays


def _rows(delays: dict[str, list[float]], rounds: int) -> list[dict]:
    rows = []
    for kind, values in delays.items():
        measured = median(values)
        held = kind == "1 s polling" or measured <= TARGET_MS
        rows.append({
            "name": f"10. completion → client knows, {kind} (ms)", "measured": measured, "floor": TARGET_MS,
            "ratio": measured / TARGET_MS, "target": "reference" if kind == "1 s polling" else f"≤ {TARGET_MS:.0f} ms",
            "ok": held, "note": f"median of {rounds} jobs, worst {max(values):.0f} ms",
        })  # fmt: skip
    return rows
