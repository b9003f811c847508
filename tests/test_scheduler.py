"""The periodic sweeps: one table, once per process, off when configured."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mediacache import create_app
from mediacache.media import periodic
from tests.helpers import eventually, make_settings, read_entry, shift, wait_for_entry


def test_scheduler_starts_once_with_every_job_of_the_table(tmp_path):
    app = create_app(make_settings(tmp_path, SCHEDULER=True))
    try:
        first = periodic.start_scheduler(app)
        assert periodic.start_scheduler(app) is first
        assert sorted(job.id for job in first.get_jobs()) == sorted(job.id for job in periodic.PERIODIC_JOBS)
    finally:
        periodic.stop_scheduler(app)


def test_scheduler_can_be_turned_off(tmp_path):
    app = create_app(make_settings(tmp_path, SCHEDULER=False))
    assert periodic.start_scheduler(app) is None


@pytest.mark.e2e
def test_scheduled_sweep_expires_entries_on_its_own(configured, media_server):
    app, client, headers = configured(SCHEDULER=True, SWEEP_INTERVAL=1)
    body = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=headers).json
    wait_for_entry(client, body["id"], headers)
    shift(app, body["id"], expires_at=timedelta(hours=2))
    periodic.start_scheduler(app)
    try:
        eventually(lambda: read_entry(client, body["id"], headers)["cache_state"] == "expired", timeout=20,
                   failure=lambda _: "the scheduler never swept the expired entry")  # fmt: skip
    finally:
        periodic.stop_scheduler(app)


def test_a_periodic_job_that_meets_a_locked_database_logs_one_line_not_a_traceback(tmp_path, caplog):
    import sqlite3

    from sqlalchemy import text

    from mediacache.db.database import database_path
    from mediacache.db.extensions import db
    from mediacache.jobs.scheduler import PeriodicJob, in_app_context

    app = create_app(make_settings(tmp_path, DB_BUSY_TIMEOUT_MS=50))
    try:

        def write() -> None:  # what flush-access-counts does: a write, which the lock holds back
            db.session.execute(text("UPDATE users SET active = active"))
            db.session.commit()

        job = PeriodicJob("flush-access-counts", write, lambda config: 60)
        holder = sqlite3.connect(database_path(app.config), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # a backup or the sqlite3 shell holding the whole file
        try:
            with caplog.at_level("WARNING", logger="mediacache"):
                in_app_context(app, job)()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        (record,) = [r for r in caplog.records if r.name == "mediacache.jobs.scheduler"]
        assert record.levelname == "WARNING" and record.exc_info is None
        assert "database is busy" in record.getMessage()
    finally:
        app.extensions["mediacache.jobs"].shutdown()
