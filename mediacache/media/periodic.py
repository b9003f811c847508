"""The one table of periodic jobs (stable ids, intervals), and starting and stopping the scheduler with it.

jobs/scheduler.py runs the table; the sweeps it lists live with their concerns (lifecycle,
reconcile, hits, webhooks). The small jobs that exist only to be scheduled
live here.
"""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import delete, select

from ..core.states import Status
from ..core.timeutil import utcnow
from ..db.extensions import db
from ..db.models import Media, RevokedToken
from ..jobs import scheduler
from ..jobs.runner import get_runner
from ..jobs.scheduler import PeriodicJob
from ..sources import site_status
from .hits import flush_access_counts
from .lifecycle import expire_due_entries, purge_retained_files
from .reconcile import reconcile_storage
from .webhooks import purge_old_deliveries

ACCESS_FLUSH_INTERVAL = 10


def purge_expired_tokens() -> int:
    """Forget revocations of tokens that have expired anyway."""
    removed = db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= utcnow())).rowcount
    db.session.commit()
    return removed


def run_due_retries() -> int:
    """Submit entries whose retry is due (a backstop for the runner's own timers, e.g. after a clock jump)."""
    due = db.session.scalars(
        select(Media.id).where(Media.status == Status.PENDING, Media.retry_at.is_not(None), Media.retry_at <= utcnow())
    ).all()
    runner = get_runner(current_app)
    for media_id in due:
        runner.submit(media_id)  # a second submission of one entry claims nothing
    return len(due)


def check_canaries() -> dict[str, bool]:
    """The canary URLs' metadata extraction (sources/site_status.py); nothing when none are configured."""
    return site_status.check_canaries() if current_app.config["CANARY_URLS"] else {}


PERIODIC_JOBS = (
    PeriodicJob("expire-entries", expire_due_entries, lambda config: config["SWEEP_INTERVAL"]),
    PeriodicJob("purge-retained", purge_retained_files, lambda config: config["SWEEP_INTERVAL"]),
    PeriodicJob("reconcile-storage", reconcile_storage, lambda config: 3600),
    PeriodicJob("purge-revoked-tokens", purge_expired_tokens, lambda config: 3600),
    PeriodicJob("flush-access-counts", flush_access_counts, lambda config: ACCESS_FLUSH_INTERVAL, quiet=True),
    PeriodicJob("run-due-retries", run_due_retries, lambda config: config["SWEEP_INTERVAL"]),
    PeriodicJob("check-canaries", check_canaries, lambda config: config["CANARY_INTERVAL"]),
    PeriodicJob("purge-webhook-deliveries", purge_old_deliveries, lambda config: 3600),
)


def start_scheduler(app: Flask):
    """Start the periodic jobs once per process (a second call is a no-op)."""
    return scheduler.start(app, PERIODIC_JOBS)


def stop_scheduler(app: Flask) -> None:
    """Stop the periodic jobs, if running, and keep the hits counted since the last flush."""
    scheduler.stop(app)
    with app.app_context():
        flush_access_counts()
        db.session.remove()
