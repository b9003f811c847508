"""Many clients at once against the real server, while jobs and sweeps run: no 5xx, no locked database."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest

from tests.helpers import ADMIN_PASSWORD, LiveServer, auth_header, eventually

CLIENTS = 16
DURATION = 30.0


@pytest.mark.e2e
@pytest.mark.longest
def test_sixteen_clients_for_thirty_seconds_get_no_server_errors(tmp_path, media_server):
    server = LiveServer(
        tmp_path, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD, MEDIACACHE_ALLOW_PRIVATE_URLS="true",
        MEDIACACHE_SWEEP_INTERVAL="1", MEDIACACHE_WORKERS="2",
    ).start()  # fmt: skip
    try:
        token = server("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})[2]["token"]
        headers = auth_header(token)
        urls = [
            media_server.url(f"/media/{name}")
            for name in ("tone.mp3", "other.mp3", "tone.webm", "episode1.mp3", "episode2.mp3", "episode3.mp3")
        ]
        statuses: Counter = Counter()
        failures: list[str] = []
        known: list[str] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + DURATION

        def client(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < stop_at:
                action = rng.choice(("queue", "queue", "get", "get", "list", "delete", "cancel"))
                with lock:
                    media_id = rng.choice(known) if known else None
                try:
                    if action == "queue":
                        body = {"url": rng.choice(urls), "profile": rng.choice(("mp3", "ogg-opus", "flac")), "ttl": 2}
                        status, _, answer = server("POST", "/api/media/queue", body=body, headers=headers)
                        if isinstance(answer, dict) and "id" in answer:
                            with lock:
                                known.append(answer["id"])
                    elif action == "get" and media_id:
                        status, _, _ = server("GET", f"/api/media/{media_id}", headers=headers)
                    elif action == "delete" and media_id:
                        status, _, _ = server("DELETE", f"/api/media/{media_id}", headers=headers)
                    elif action == "cancel" and media_id:
                        # A force-cancel, then at once the same entry queued again (a retry of a cancelled one).
                        status, _, _ = server("DELETE", f"/api/media/{media_id}?force=true", headers=headers)
                        if status < 500:
                            status, _, _ = server("POST", f"/api/media/{media_id}/retry", headers=headers)
                    else:
                        status, _, _ = server("GET", "/api/media?limit=50", headers=headers)
                except OSError as exc:
                    with lock:
                        failures.append(f"{action}: {exc}")
                    continue
                with lock:
                    statuses[status] += 1

        threads = [threading.Thread(target=client, args=(seed,)) for seed in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Nothing is lost: every entry a client queued reaches a final state once the load stops.
        eventually(
            lambda: not any(
                server("GET", f"/api/media?status={state}&limit=1", headers=headers)[2]["pagination"]["total"]
                for state in ("pending", "downloading", "processing")
            ),
            timeout=60, interval=0.2, failure=lambda _: "entries still waiting a minute after the load stopped",
        )  # fmt: skip
    finally:
        server.stop()
    log = server.log()
    assert "crashed" not in log, log[-3000:]
    assert failures == []
    assert sum(statuses.values()) > 100, statuses
    assert not [status for status in statuses if status >= 500], statuses
    assert "database is locked" not in log
    assert "Traceback" not in log, log[-3000:]
