"""Bookkeeping at scale: sweeps and listings with 100,000 entries, against the same at 1,000."""

from __future__ import annotations

import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from mediacache import create_app
from mediacache.core.timeutil import utcnow
from mediacache.db.extensions import db
from mediacache.db.models import Media
from mediacache.media import lifecycle
from tests.helpers import ADMIN_PASSWORD, auth_header, login, make_settings

from .tools import median


def _add_entries(app, count: int, due: int = 0) -> list[str]:
    """Insert completed, live entries (``due`` of them past their TTL, each with a small file)."""
    now = utcnow()
    rows, due_ids = [], []
    for index in range(count):
        media_id = str(uuid.uuid4())
        is_due = index < due
        rows.append({
            "id": media_id, "url": f"https://example.org/{media_id}", "source_url": f"https://example.org/{media_id}",
            "variant": "mp3:192000:", "profile": "mp3", "bitrate": 192000, "status": "completed",
            "cache_state": "live", "file_name": "a.mp3", "extension": "mp3", "mime_type": "audio/mpeg",
            "size_bytes": 10, "ttl": 3600, "created_at": now - timedelta(seconds=count - index),
            "updated_at": now, "completed_at": now, "hits": 0, "dont_clean_title": False,
            "expires_at": now - timedelta(minutes=1) if is_due else now + timedelta(days=1),
            "media_metadata": {"title": f"Song {index}", "artist": "Bench"},
        })  # fmt: skip
        if is_due:
            due_ids.append(media_id)
    with app.app_context():
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(Media), rows[start : start + 5000])
        db.session.commit()
    static = Path(app.config["STATIC_CACHE"])
    for media_id in due_ids:
        (static / media_id).mkdir()
        (static / media_id / "a.mp3").write_bytes(b"0123456789")
    return [row["id"] for row in rows]


def _timed(function, reps: int = 7) -> float:
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return median(samples)


def _request_costs(app, ids: list[str]) -> dict[str, float]:
    client = app.test_client()
    headers = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
    total = len(ids)
    pages = max(1, total // 100)
    middle = pages // 2 or 1
    costs = {
        "list, first page": _timed(lambda: client.get("/api/media?limit=100&page=1", headers=headers)),
        "list, middle page": _timed(lambda: client.get(f"/api/media?limit=100&page={middle}", headers=headers)),
        "list, last page": _timed(lambda: client.get(f"/api/media?limit=100&page={pages}", headers=headers)),
        "get by id": _timed(lambda: client.get(f"/api/media/{ids[total // 2]}", headers=headers), reps=50),
    }
    return costs


def _sweep_cost(app) -> float:
    with app.app_context():
        return _timed(lifecycle.expire_due_entries)


def bookkeeping_scale() -> list[dict]:
    """Sweep with nothing due vs the sweep that expires 10,000; request costs at 100,000 vs 1,000."""
    with tempfile.TemporaryDirectory() as small_dir, tempfile.TemporaryDirectory() as big_dir:
        small = create_app(make_settings(Path(small_dir)))
        small_ids = _add_entries(small, 1000)
        small_costs = _request_costs(small, small_ids)

        big = create_app(make_settings(Path(big_dir)))
        big_ids = _add_entries(big, 100_000, due=10_000)
        with big.app_context():
            started = time.perf_counter()
            expired = lifecycle.expire_due_entries()
            expiring = time.perf_counter() - started
        assert expired == 10_000, expired
        idle = _sweep_cost(big)
        big_costs = _request_costs(big, big_ids)

    ratio = idle / expiring
    rows = [{
        "name": "7. sweep with nothing due ÷ sweep expiring 10,000 (100,000 entries)",
        "measured": idle, "floor": expiring, "ratio": ratio, "target": "≤ 0.01", "ok": ratio <= 0.01,
    }]  # fmt: skip
    for label, cost in big_costs.items():
        ratio = cost / small_costs[label]
        rows.append({"name": f"7. {label}, 100,000 vs 1,000 entries", "measured": cost, "floor": small_costs[label],
                     "ratio": ratio, "target": "≤ 2.0", "ok": ratio <= 2.0})  # fmt: skip
    return rows
