"""The one table of periodic jobs (stable ids, intervals), and starting and stopping the scheduler with it.

jobs/scheduler.py runs the table; the sweeps it lists live with their concerns (lifecycle,
reconcile, transitions, hits, webhooks). The two small jobs that exist only to be scheduled
live here.
"""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import delete

from ..core.timeutil import utcnow
from ..db.extensions import db
from ..db.models import RevokedToken
from ..jobs import scheduler
from ..jobs.scheduler import PeriodicJob
from ..sources import site_status
from .hits import flush_access_counts
from .lifecycle import expire_due_entries, purge_retained_files
from .reconcile import reconcile_storage
from .transitions import run_due_retries
from .webhooks import purge_old_deliveries

ACCESS_FLUSH_INTERVAL = 10


def purge_expired_tokens() -> int:
    """Forget revocations of tokens that have expired anyway."""
    removed = db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= utcnow())).rowcount
    db.session.commit()
    return removed


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
