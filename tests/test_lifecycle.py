"""Expiry, retention, restore, recovery and capacity (DESIGN.md "The life of an entry")."""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text

from mediacache import create_app
from mediacache.db.extensions import db
from mediacache.db.models import Media
from mediacache.media import lifecycle, reconcile, storage
from tests.helpers import (
    ADMIN_PASSWORD,
    auth_header,
    login,
    make_settings,
    queue_and_wait,
    settled,
    shift,
    wait_for_entry,
)


def sweep(app, function):
    """Run one sweep function the way the scheduler does."""
    with app.app_context():
        try:
            return function()
        finally:
            db.session.remove()


def test_expiry_moves_the_file_to_the_private_cache_and_stops_serving_it(app, client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), ttl=60)
    shift(app, body["id"], expires_at=timedelta(minutes=5))
    assert sweep(app, lifecycle.expire_due_entries) == 1
    after = client.get(f"/api/media/{body['id']}", headers=admin).json
    assert (after["cache_state"], after["valid"], after["path"]) == ("expired", False, None)
    assert after["retained_until"].endswith("Z")
    assert client.get(body["path"]).status_code == 404
    assert not (Path(app.config["STATIC_CACHE"]) / body["id"]).exists()
    assert (Path(app.config["PRIVATE_CACHE"]) / body["id"] / Path(body["path"]).name).is_file()


def test_a_sweep_with_nothing_due_touches_no_rows(app, client, admin, media_server):
    settled(client, queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), ttl=3600), admin)
    writes = []
    with app.app_context():
        event.listen(
            db.engine,
            "before_cursor_execute",
            lambda c, cur, statement, *a: writes.append(statement) if statement.startswith("UPDATE") else None,
        )
    assert sweep(app, lifecycle.run_sweep) == {"expired": 0, "purged": 0}
    assert writes == []


def test_the_expiry_and_purge_queries_use_their_indexes(app):
    with app.app_context():
        for sql in (
            "SELECT id FROM media WHERE cache_state = 'live' AND expires_at <= '2030-01-01'",
            "SELECT id FROM media WHERE cache_state IN ('expired', 'deleted') AND retained_until <= '2030-01-01'",
        ):
            plan = " ".join(row[-1] for row in db.session.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "USING INDEX ix_media_state_" in plan or "USING COVERING INDEX ix_media_state_" in plan, plan


def test_retention_purges_the_private_file_but_keeps_the_row(app, client, admin, media_server):
    body = queue_and_wait(client, admin, media_server.url("/media/tone.mp3"))
    client.delete(f"/api/media/{body['id']}", headers=admin)
    assert sweep(app, lifecycle.purge_retained_files) == 0  # retained for 30 days
    shift(app, body["id"], retained_until=timedelta(days=31))
    assert sweep(app, lifecycle.purge_retained_files) == 1
    after = client.get(f"/api/media/{body['id']}", headers=admin).json
    assert after["cache_state"] == "purged" and after["retained_until"] is None
    assert not (Path(app.config["PRIVATE_CACHE"]) / body["id"]).exists()
    assert client.get("/api/media?cache_state=purged", headers=admin).json["pagination"]["total"] == 1


def test_expired_entry_is_restored_by_one_rename_with_its_ttl_restarted(app, client, admin, media_server):
    url = media_server.url("/media/tone.mp3")
    body = queue_and_wait(client, admin, url, ttl=60)
    downloads = media_server.downloads("/media/tone.mp3")
    shift(app, body["id"], expires_at=timedelta(minutes=5))
    sweep(app, lifecycle.expire_due_entries)
    response = client.post("/api/media/queue", json={"url": url, "ttl": 300}, headers=admin)
    assert response.status_code == 200 and response.json["restored"] is True and response.json["id"] == body["id"]
    assert response.json["valid"] and client.get(response.json["path"]).status_code == 200
    assert media_server.downloads("/media/tone.mp3") == downloads


def test_purged_entry_is_downloaded_again(app, client, admin, media_server):
    url = media_server.url("/media/tone.mp3")
    body = queue_and_wait(client, admin, url, ttl=60)
    shift(app, body["id"], expires_at=timedelta(minutes=5))
    sweep(app, lifecycle.expire_due_entries)
    shift(app, body["id"], retained_until=timedelta(days=40))
    sweep(app, lifecycle.purge_retained_files)
    response = client.post("/api/media/queue", json={"url": url}, headers=admin)
    assert response.status_code == 202 and response.json["id"] == body["id"]
    assert wait_for_entry(client, body["id"], admin)["valid"] is True


@pytest.mark.e2e
def test_start_up_recovery_resumes_interrupted_jobs_and_cleans_up(tmp_path, media_server):
    settings = make_settings(tmp_path)
    app = create_app(settings)
    client = app.test_client()
    headers = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
    done = queue_and_wait(client, headers, media_server.url("/media/tone.mp3"))
    lost = queue_and_wait(client, headers, media_server.url("/media/other.mp3"))
    retained = queue_and_wait(client, headers, media_server.url("/media/tone.webm"))
    client.delete(f"/api/media/{retained['id']}", headers=headers)

    # What a crash leaves behind: a row cut off mid-job with a partial file, a vanished file,
    # a retained file that vanished, and folders nobody knows.
    static, private = Path(settings["STATIC_CACHE"]), Path(settings["PRIVATE_CACHE"])
    interrupted = str(uuid.uuid4())
    with app.app_context():
        db.session.add(
            Media(
                id=interrupted,
                url=media_server.url("/media/episode1.mp3"),
                source_url=media_server.url("/media/episode1.mp3"),
                variant="mp3:192000:",
                profile="mp3",
                bitrate=192000,
                ttl=600,
                status="processing",
                cache_state="none",
            )
        )
        db.session.commit()
    (static / ".tmp" / interrupted).mkdir(parents=True)
    (static / ".tmp" / interrupted / "source.mp3").write_bytes(b"partial")
    shutil.rmtree(static / lost["id"])
    shutil.rmtree(private / retained["id"])
    orphan_live, orphan_private = static / str(uuid.uuid4()), private / str(uuid.uuid4())
    orphan_live.mkdir()
    orphan_private.mkdir()

    restarted = create_app(settings)
    summary = reconcile.recover_on_start(restarted)
    assert summary["reset"] == 1 and summary["requeued"] == 1 and summary["marked_purged"] == 1
    assert summary["quarantined"] == 2  # folders nobody knows are set aside, not deleted
    client = restarted.test_client()
    assert wait_for_entry(client, interrupted, headers)["status"] == "completed"
    assert wait_for_entry(client, lost["id"], headers)["valid"] is True
    assert client.get(f"/api/media/{retained['id']}", headers=headers).json["cache_state"] == "purged"
    assert client.get(f"/api/media/{done['id']}", headers=headers).json["valid"] is True
    assert not orphan_live.exists() and not orphan_private.exists()
    quarantined = {path.name for path in (private / storage.QUARANTINE_DIR_NAME).glob("*/*/*")}
    assert quarantined == {orphan_live.name, orphan_private.name}
    assert list((static / ".tmp").iterdir()) == []
    restarted.extensions["mediacache.jobs"].shutdown()


@pytest.mark.e2e
def test_retained_files_are_purged_oldest_first_to_make_room(configured, media_server):
    app, client, headers = configured(MAX_CACHE_BYTES=120_000)  # room for two ~49 KB files
    first = queue_and_wait(client, headers, media_server.url("/media/tone.mp3"))
    second = queue_and_wait(client, headers, media_server.url("/media/other.mp3"))
    client.delete(f"/api/media/{first['id']}", headers=headers)
    client.delete(f"/api/media/{second['id']}", headers=headers)
    shift(app, first["id"], retained_until=timedelta(days=1))  # the older one
    third = queue_and_wait(client, headers, media_server.url("/media/episode1.mp3"))
    assert third["valid"]
    states = {b["id"]: b["cache_state"] for b in client.get("/api/media", headers=headers).json["items"]}
    assert states[first["id"]] == "purged" and states[second["id"]] == "deleted"


def test_when_live_files_fill_the_cache_new_queue_calls_get_507(configured, media_server):
    _app, client, headers = configured(MAX_CACHE_BYTES=60_000)
    live = queue_and_wait(client, headers, media_server.url("/media/tone.mp3"))
    response = client.post("/api/media/queue", json={"url": media_server.url("/media/other.mp3")}, headers=headers)
    assert response.status_code == 507 and response.json["error"]["code"] == "STORAGE_FULL"
    assert client.get(f"/api/media/{live['id']}", headers=headers).json["valid"] is True  # never evicted


@pytest.mark.e2e
def test_a_file_that_would_overflow_the_limit_fails_its_entry_only(configured, media_server):
    app, client, headers = configured(MAX_CACHE_BYTES=100_000)
    live = queue_and_wait(client, headers, media_server.url("/media/tone.mp3"))
    response = client.post("/api/media/queue", json={"url": media_server.url("/media/long.mp3"), "profile": "flac"},
                           headers=headers)  # fmt: skip
    failed = wait_for_entry(client, response.json["id"], headers)
    assert failed["status"] == "failed" and failed["error"]["code"] == "STORAGE_FULL"
    assert not (Path(app.config["STATIC_CACHE"]) / failed["id"]).exists()
    assert client.get(f"/api/media/{live['id']}", headers=headers).json["valid"] is True


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs for the caches, where the machine allows mounting one."""
    import subprocess

    mount = tmp_path / "tiny"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.decode().strip() or 'not permitted'})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_enospc_fails_only_that_entry_and_leaves_no_partial_files(tmp_path, tiny_disk, media_server):
    settings = make_settings(tmp_path, STATIC_CACHE=str(tiny_disk / "static"), PRIVATE_CACHE=str(tiny_disk / "private"))
    app = create_app(settings)
    client = app.test_client()
    headers = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
    small = queue_and_wait(client, headers, media_server.url("/media/tone.mp3"))
    # 30 s as FLAC is several MiB: it cannot fit on the 1 MiB disk.
    response = client.post("/api/media/queue", json={"url": media_server.url("/media/long.mp3"), "profile": "flac"},
                           headers=headers)  # fmt: skip
    failed = wait_for_entry(client, response.json["id"], headers)
    assert failed["status"] == "failed" and failed["error"]["code"] == "STORAGE_FULL"
    assert not list((tiny_disk / "static" / ".tmp").glob(f"{failed['id']}*"))
    assert not (tiny_disk / "static" / failed["id"]).exists()
    assert client.get(f"/api/media/{small['id']}", headers=headers).json["valid"] is True
    assert client.get(small["path"]).status_code == 200
    assert client.get("/api/users/me", headers=headers).status_code == 200  # the database is fine


# --- the two caches on different filesystems -------------------------------------------------


def _simulated_exdev(monkeypatch, static: Path, private: Path) -> list[tuple[str, str]]:
    """Make os.rename/os.replace between the two caches fail with EXDEV, as across two disks."""
    crossings: list[tuple[str, str]] = []

    def cache_of(path) -> Path | None:
        resolved = Path(os.path.abspath(path))
        return next((root for root in (static, private) if resolved.is_relative_to(root)), None)

    def refusing(real):
        def rename(source, target, *args, **kwargs):
            if {cache_of(source), cache_of(target)} == {static, private}:
                crossings.append((str(source), str(target)))
                raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(source), None, str(target))
            return real(source, target, *args, **kwargs)

        return rename

    monkeypatch.setattr(os, "replace", refusing(os.replace))
    monkeypatch.setattr(os, "rename", refusing(os.rename))
    return crossings


@pytest.fixture(params=["simulated", "tmpfs"])
def split_caches(request, tmp_path, monkeypatch):
    """Settings whose private cache is on another filesystem than the static cache."""
    if request.param == "tmpfs":
        shm = Path("/dev/shm")
        if not (shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != tmp_path.stat().st_dev):
            pytest.skip("no writable /dev/shm on another filesystem here")
        private = shm / f"mediacache-test-{uuid.uuid4().hex}"
        yield make_settings(tmp_path, PRIVATE_CACHE=str(private)), None
        shutil.rmtree(private, ignore_errors=True)
        return
    settings = make_settings(tmp_path)
    yield settings, _simulated_exdev(monkeypatch, Path(settings["STATIC_CACHE"]), Path(settings["PRIVATE_CACHE"]))


def test_soft_delete_restore_and_expiry_work_across_filesystems(split_caches, media_server):
    settings, crossings = split_caches
    app = create_app(settings)
    try:
        client = app.test_client()
        headers = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
        url = media_server.url("/media/tone.mp3")
        body = queue_and_wait(client, headers, url, ttl=60)
        original = client.get(body["path"]).data
        static, private = Path(settings["STATIC_CACHE"]), Path(settings["PRIVATE_CACHE"])
        name = Path(body["path"]).name

        assert client.delete(f"/api/media/{body['id']}", headers=headers).status_code == 204
        assert (private / body["id"] / name).read_bytes() == original
        assert not (static / body["id"]).exists()

        restored = client.post("/api/media/queue", json={"url": url, "ttl": 60}, headers=headers)
        assert restored.status_code == 200 and restored.json["restored"] is True, restored.json
        assert client.get(body["path"]).data == original
        assert not (private / body["id"]).exists()

        shift(app, body["id"], expires_at=timedelta(minutes=5))
        assert sweep(app, lifecycle.expire_due_entries) == 1
        assert client.get(body["path"]).status_code == 404
        assert not (static / body["id"]).exists()
        assert (private / body["id"] / name).read_bytes() == original
        # No copy was left half-way under a staging name.
        assert not [path for root in (static, private) for path in root.rglob(f"{storage.STAGING_PREFIX}*")]
        if crossings is not None:
            assert len(crossings) >= 3  # the moves really were refused as cross-device
    finally:
        app.extensions["mediacache.jobs"].shutdown()


def test_a_move_across_filesystems_left_half_way_is_cleaned_up_on_start(tmp_path, media_server, monkeypatch):
    settings = make_settings(tmp_path)
    app = create_app(settings)
    client = app.test_client()
    headers = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
    body = queue_and_wait(client, headers, media_server.url("/media/tone.mp3"))
    static, private = Path(settings["STATIC_CACHE"]), Path(settings["PRIVATE_CACHE"])
    _simulated_exdev(monkeypatch, static, private)
    # A crash after the copy, before its rename into place: the source is untouched.
    monkeypatch.setattr(storage, "_flush_dir", lambda folder: (_ for _ in ()).throw(KeyboardInterrupt))
    with app.app_context(), pytest.raises(KeyboardInterrupt):
        storage.move_to_private(body["id"])
    monkeypatch.undo()
    assert (static / body["id"]).is_dir()
    summary = reconcile.recover_on_start(create_app(settings))
    assert summary["temp_removed"] == 0  # the failed move removed its own staging copy
    (private / f"{storage.STAGING_PREFIX}{body['id']}-0badc0de").mkdir()  # one a SIGKILL left
    summary = reconcile.recover_on_start(create_app(settings))
    assert summary["temp_removed"] == 1
    assert list(private.iterdir()) == []
    assert client.get(body["path"]).status_code == 200
    app.extensions["mediacache.jobs"].shutdown()


# --- a new or empty database never costs the cached files ------------------------------------


def test_starting_with_a_new_database_quarantines_cached_files_and_deletes_none(tmp_path, media_server, caplog):
    settings = make_settings(tmp_path)
    app = create_app(settings)
    client = app.test_client()
    headers = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
    live = queue_and_wait(client, headers, media_server.url("/media/tone.mp3"))
    retained = queue_and_wait(client, headers, media_server.url("/media/other.mp3"))
    live_bytes = client.get(live["path"]).data
    retained_bytes = client.get(retained["path"]).data
    client.delete(f"/api/media/{retained['id']}", headers=headers)
    app.extensions["mediacache.jobs"].shutdown()
    static, private = Path(settings["STATIC_CACHE"]), Path(settings["PRIVATE_CACHE"])
    partial = static / ".tmp" / f"{uuid.uuid4()}-0123456789ab"  # a true temp leftover: still swept
    partial.mkdir(parents=True)
    (partial / "source.mp3.part").write_bytes(b"partial")

    # Same caches, a database that knows none of their files (a new instance folder).
    fresh = create_app(make_settings(tmp_path, INSTANCE_DIR=str(tmp_path / "new-instance")))
    with caplog.at_level("WARNING", logger="mediacache.media.reconcile"):
        summary = reconcile.recover_on_start(fresh)
    fresh.extensions["mediacache.jobs"].shutdown()

    assert summary["quarantined"] == 2 and summary["orphans_removed"] == 0, summary
    assert not (static / live["id"]).exists() and not (private / retained["id"]).exists()
    (batch,) = (private / storage.QUARANTINE_DIR_NAME).iterdir()
    assert (batch / "static_cache" / live["id"] / Path(live["path"]).name).read_bytes() == live_bytes
    assert (batch / "private_cache" / retained["id"] / Path(retained["path"]).name).read_bytes() == retained_bytes
    assert not partial.exists()
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert any("2 cache folder(s)" in message and str(batch) in message for message in warnings), warnings
    # The quarantine is never taken for an entry folder: a second start leaves it alone.
    again = create_app(make_settings(tmp_path, INSTANCE_DIR=str(tmp_path / "new-instance")))
    assert reconcile.recover_on_start(again)["quarantined"] == 0
    again.extensions["mediacache.jobs"].shutdown()
    assert (batch / "static_cache" / live["id"]).is_dir()
