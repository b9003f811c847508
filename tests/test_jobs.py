"""Jobs: claimed once, cancellable, bounded by the job timeout, never leaving an ffmpeg behind."""

from __future__ import annotations

import gc
import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from mediacache.downloader import Control, JobCancelled, JobError, convert, find_ffmpeg
from mediacache.extensions import db
from mediacache.jobs import get_runner
from mediacache.models import Media
from tests.helpers import wait_for_entry


def processes_mentioning(marker: str) -> list[int]:
    """Pids whose command line contains ``marker`` (ffmpeg children we might have leaked)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
def stalled_source(tmp_path):
    """A FIFO nobody writes to: ffmpeg reading it blocks forever, like a stuck transcode."""
    fifo = tmp_path / f"stalled-{uuid.uuid4().hex}.mp3"
    os.mkfifo(fifo)
    return fifo


@pytest.mark.parametrize("stop", ["cancel", "deadline"])
def test_a_stopped_transcode_kills_ffmpeg(tmp_path, stalled_source, stop):
    cancel = threading.Event()
    control = Control(cancel=cancel, deadline=time.monotonic() + (1.0 if stop == "deadline" else 3600))
    if stop == "cancel":
        threading.Timer(1.0, cancel.set).start()
    expected = JobCancelled if stop == "cancel" else JobError
    with pytest.raises(expected):
        convert(find_ffmpeg(None), stalled_source, tmp_path / "out.ogg", ["-c:a", "libopus"], {}, 3.0,
                lambda progress: None, control)  # fmt: skip
    assert processes_mentioning(stalled_source.name) == []


def test_job_timeout_fails_a_trickling_download_and_cleans_up(configured, media_server):
    media_server.trickle_delay = 0.2
    app, client, headers = configured(JOB_TIMEOUT=2)
    response = client.post("/api/media/queue", json={"url": media_server.url("/trickle/long.mp3")}, headers=headers)
    body = wait_for_entry(client, response.json["id"], headers, timeout=30)
    assert body["status"] == "failed" and body["error"]["code"] == "TIMEOUT"
    assert not (Path(app.config["STATIC_CACHE"]) / ".tmp" / body["id"]).exists()


def test_a_hanging_source_cannot_hold_a_worker(configured, media_server):
    _app, client, headers = configured(JOB_TIMEOUT=3, WORKERS=1)
    hanging = client.post("/api/media/queue", json={"url": media_server.url("/hang")}, headers=headers).json
    after = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=headers).json
    failed = wait_for_entry(client, hanging["id"], headers, timeout=30)
    assert failed["status"] == "failed" and failed["error"]["code"] in ("TIMEOUT", "UPSTREAM_TIMEOUT")
    # The only worker was freed: the next job ran.
    assert wait_for_entry(client, after["id"], headers, timeout=30)["status"] == "completed"


def test_cancelled_download_leaves_no_temp_files_and_no_processes(app, client, admin, media_server):
    media_server.trickle_delay = 0.1
    media_id = client.post("/api/media/queue", json={"url": media_server.url("/trickle/long.mp3")},
                           headers=admin).json["id"]  # fmt: skip
    wait_for_entry(client, media_id, admin, until=("downloading",))
    client.delete(f"/api/media/{media_id}?force=true", headers=admin)
    assert app.extensions["mediacache.jobs"].wait_idle(20)
    assert client.get(f"/api/media/{media_id}", headers=admin).json["error"]["code"] == "CANCELLED"
    assert not (Path(app.config["STATIC_CACHE"]) / ".tmp" / media_id).exists()
    assert processes_mentioning(media_id) == []


def test_an_entry_submitted_twice_runs_once(app, client, admin, media_server):
    baseline = client.post("/api/media/queue", json={"url": media_server.url("/media/other.mp3")}, headers=admin)
    wait_for_entry(client, baseline.json["id"], admin)
    per_job = media_server.downloads("/media/other.mp3")

    media_id = str(uuid.uuid4())
    url = media_server.url("/media/tone.mp3")
    with app.app_context():
        db.session.add(Media(id=media_id, url=url, source_url=url, variant="mp3:192000:", profile="mp3",
                             bitrate=192000, ttl=60, status="pending", cache_state="none"))  # fmt: skip
        db.session.commit()
    runner = app.extensions["mediacache.jobs"]
    runner.submit(media_id)
    runner.submit(media_id)
    assert wait_for_entry(client, media_id, admin)["status"] == "completed"
    assert runner.wait_idle(20)
    assert media_server.downloads("/media/tone.mp3") == per_job


def test_worker_threads_are_named(app, client, admin, media_server):
    seen = []
    original = app.extensions["mediacache.jobs"]._run

    def spy(media_id):
        seen.append(threading.current_thread().name)
        return original(media_id)

    app.extensions["mediacache.jobs"]._run = spy
    body = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=admin).json
    wait_for_entry(client, body["id"], admin)
    assert seen and seen[0].startswith("mediacache-job")


@pytest.fixture
def unfrozen():
    """Whatever a test freezes goes back to the collector afterwards (the test process must not leak)."""
    yield
    gc.unfreeze()


def test_a_serving_process_takes_its_long_lived_objects_out_of_full_collections(
    app, client, admin, media_server, unfrozen
):
    # A full collection walking the app, its libraries and yt-dlp's extractors held the GIL ~40 ms:
    # every request stalled, and the first poll after a job saw "completed" that much later.
    runner = get_runner(app)
    runner.freeze_when_warm = True  # as app.py sets it; tests and CLI runs leave it off
    response = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=admin)
    assert wait_for_entry(client, response.json["id"], admin)["status"] == "completed"
    assert runner.wait_idle()
    assert gc.get_freeze_count() > 10_000  # yt-dlp's extractors among them
    assert not runner.freeze_when_warm  # once: objects frozen later could never be collected
