"""How soon a client knows a job is done, by webhook (issue 18): completion inside the process → POST received.

The completion time is the entry's ``completed_at`` as the server's database holds it (with
microseconds): the time taken just before the transaction that makes the entry completed and
writes its webhook outbox row, read back from the SQLite file after the run. The receiver is a
loopback HTTP server in this process and notes ``time.time()`` when a POST's body is in; both
clocks are this machine's.
"""

from __future__ import annotations

import sqlite3
import statistics
from datetime import UTC, datetime
from pathlib import Path

from tests.webhook_receiver import Receiver

from .tools import Server

TARGET_MS = 50.0


def webhook_latencies(server: Server, origin, instance_dir: str, reps: int = 10) -> list[float]:
    """Seconds from each job's completion to the receiver having its webhook POST, one job at a time."""
    receiver = Receiver().start()
    try:
        ids = []
        for index in range(reps):
            # A variant no other measurement queues (a 201 and a real job each time); an mp3 source at most
            # 320k is remuxed, so each job is short and the run is about the notification, not the encode.
            status, _, body = server.queue(url=origin.url(f"/media/song-{index}.mp3"), profile="mp3", bitrate="320k",
                                           ttl=600, callback_url=receiver.url(f"/hook/{index}"))  # fmt: skip
            assert status == 201, body
            receiver.wait_for(index + 1, timeout=600)
            ids.append(body["id"])
        arrivals = {request.payload["entry"]["id"]: request.at for request in receiver.received}
    finally:
        receiver.stop()
    completed = _completion_times(Path(instance_dir) / "mediacache.db", ids)
    return [arrivals[media_id] - completed[media_id] for media_id in ids]


def _completion_times(database: Path, ids: list[str]) -> dict[str, float]:
    """Each entry's ``completed_at`` (stored naive UTC) as a Unix time."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            f"SELECT id, completed_at FROM media WHERE id IN ({','.join('?' * len(ids))})", ids
        ).fetchall()
    return {media_id: datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp() for media_id, stamp in rows}


def webhook_row(latencies: list[float]) -> dict:
    """The table row: median milliseconds from completion to the POST, against the 50 ms target."""
    ms = sorted(value * 1000 for value in latencies)
    middle = statistics.median(ms)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {
        "name": "10. completion → client knows: webhook POST received (ms, median)",
        "measured": middle, "floor": TARGET_MS, "ratio": middle / TARGET_MS, "target": f"≤ {TARGET_MS:g} ms",
        "ok": middle <= TARGET_MS, "note": f"p95 {p95:.1f} ms, max {ms[-1]:.1f} ms, {len(ms)} jobs",
    }  # fmt: skip
