"""Jobs: claimed once, cancellable, bounded by the job timeout, never leaving an ffmpeg behind."""

from __future__ import annotations

import gc
import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from mediacache.db.extensions import db
from mediacache.db.models import Media
from mediacache.jobs.runner import get_runner
from mediacache.sources.ffmpeg import convert, find_ffmpeg
from mediacache.sources.jobcontrol import Control, JobCancelled, JobError
from tests.helpers import ADMIN_PASSWORD, LiveServer, auth_header, eventually, wait_for_entry


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
    assert not list((Path(app.config["STATIC_CACHE"]) / ".tmp").glob(f"{body['id']}*"))


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
    assert not list((Path(app.config["STATIC_CACHE"]) / ".tmp").glob(f"{media_id}*"))
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
    runner = get_runner(app)
    original = runner.work  # the work function create_app hands the runner

    def spy(*args):
        seen.append(threading.current_thread().name)
        return original(*args)

    runner.work = spy
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


# --- a cancelled entry queued again: every run of an entry is its own -----------------------


def work_folders(app, media_id: str) -> set[str]:
    """The work folders of an entry's runs now on disk (one per run: ``.tmp/<id>-<run>``)."""
    return {path.name for path in (Path(app.config["STATIC_CACHE"]) / ".tmp").glob(f"{media_id}*")}


def wait_for_run_in_download(app, media_id: str, seen: set[str], timeout: float = 30) -> str:
    """The work folder of a new run of the entry once that run holds part of the download."""

    def new_run_in_download():
        for name in work_folders(app, media_id) - seen:
            parts = list((Path(app.config["STATIC_CACHE"]) / ".tmp" / name).glob("*.part"))
            if any(part.stat().st_size > 0 for part in parts if part.exists()):
                return name
        return None

    return eventually(
        new_run_in_download,
        timeout=timeout,
        interval=0.02,
        failure=lambda _: f"no new run of {media_id} in its download: {work_folders(app, media_id)}",
    )


def crashes(caplog) -> list[str]:
    """Error records a job wrote (a crash, an unexpected failure)."""
    return [record.getMessage() for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")]


def test_a_cancelled_job_queued_again_at_once_completes_in_a_run_of_its_own(configured, media_server, caplog):
    # Each round: a run is held half-way through its download, the entry is force-deleted and
    # queued again while that run is still stopping. The new run must not inherit the old cancel
    # signal, crash on the old run's clean-up, or share its work folder.
    app, client, headers = configured(WORKERS=1)
    url = media_server.url("/gated/tone.mp3")
    media_id = client.post("/api/media/queue", json={"url": url}, headers=headers).json["id"]
    seen: set[str] = set()
    for _ in range(8):
        seen.add(wait_for_run_in_download(app, media_id, seen))
        assert client.delete(f"/api/media/{media_id}?force=true", headers=headers).status_code == 204
        again = client.post("/api/media/queue", json={"url": url}, headers=headers)
        assert again.status_code == 202 and again.json["id"] == media_id, again.json
        # The old run stops within moments of its cancel (its sockets are cut), so on a busy machine the
        # new run may have started before this answer was written.
        assert again.json["status"] in ("pending", "downloading"), again.json
        media_server.release_gated()  # the old run gets its next bytes, sees its cancel and ends
    seen.add(wait_for_run_in_download(app, media_id, seen))
    media_server.release_gated()
    body = wait_for_entry(client, media_id, headers, timeout=30)
    assert body["status"] == "completed" and body["valid"], body
    assert client.get(body["path"]).status_code == 200
    assert get_runner(app).wait_idle(20)
    assert len(seen) == 9  # nine runs, nine work folders
    assert work_folders(app, media_id) == set()  # each run removed its own
    assert crashes(caplog) == []


def test_an_entry_cancelled_and_queued_again_before_its_run_starts_completes(configured, media_server, caplog):
    # One worker, held by another job: the entry's first run waits in the pool with its cancel
    # signal set when the entry is queued again. That run must claim nothing; the next one runs.
    app, client, headers = configured(WORKERS=1)
    blocker = client.post("/api/media/queue", json={"url": media_server.url("/gated/other.mp3")}, headers=headers)
    wait_for_run_in_download(app, blocker.json["id"], set())
    url = media_server.url("/media/tone.mp3")
    media_id = client.post("/api/media/queue", json={"url": url}, headers=headers).json["id"]
    assert client.delete(f"/api/media/{media_id}?force=true", headers=headers).status_code == 204
    assert client.post("/api/media/queue", json={"url": url}, headers=headers).status_code == 202
    media_server.release_gated()
    assert wait_for_entry(client, blocker.json["id"], headers, timeout=30)["status"] == "completed"
    body = wait_for_entry(client, media_id, headers, timeout=30)
    assert body["status"] == "completed" and body["valid"], body
    assert get_runner(app).wait_idle(20)
    assert crashes(caplog) == []


@pytest.mark.e2e
def test_force_cancel_and_queue_again_in_a_loop_on_the_real_server_loses_nothing(tmp_path, media_server):
    # The real code path end to end, one worker: cancels land at random points of a run (waiting,
    # extracting, downloading, converting), and each is followed at once by a queue call or a retry.
    media_server.trickle_delay = 0.01
    server = LiveServer(
        tmp_path, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD, MEDIACACHE_ALLOW_PRIVATE_URLS="true",
        MEDIACACHE_WORKERS="1",
    ).start()  # fmt: skip
    try:
        token = server("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})[2]["token"]
        headers = auth_header(token)
        body = {"url": media_server.url("/trickle/tone.mp3"), "profile": "ogg-opus"}
        status, _, entry = server("POST", "/api/media/queue", body=body, headers=headers)
        assert status == 201, entry
        media_id = entry["id"]
        for round_ in range(40):
            status, _, answer = server("DELETE", f"/api/media/{media_id}?force=true", headers=headers)
            assert status == 204, answer
            if round_ % 3 == 0:
                status, _, answer = server("POST", f"/api/media/{media_id}/retry", headers=headers)
            else:
                status, _, answer = server("POST", "/api/media/queue", body=body, headers=headers)
            assert status == 202, answer
        deadline = time.monotonic() + 60
        while (entry := server("GET", f"/api/media/{media_id}", headers=headers)[2])["status"] not in (
            "completed", "failed", "cancelled",
        ):  # fmt: skip
            assert time.monotonic() < deadline, entry
            time.sleep(0.05)
        assert entry["status"] == "completed" and entry["valid"], entry
        deadline = time.monotonic() + 20
        while list((tmp_path / "static_cache" / ".tmp").glob(f"{media_id}*")):
            assert time.monotonic() < deadline, "a run left its work folder behind"
            time.sleep(0.05)
    finally:
        server.stop()
    log = server.log()
    assert "crashed" not in log and "Traceback" not in log, log[-3000:]
