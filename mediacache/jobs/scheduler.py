"""The periodic jobs' runner: APScheduler in the background, each job in its own app context.

The table of periodic jobs (stable ids, intervals) is ``media.periodic.PERIODIC_JOBS``: its
jobs are the media layer's sweeps, which sit above this layer; this module only runs them, and
tells listeners (metrics) after each run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from ..db.database import database_problem
from ..db.extensions import db

log = logging.getLogger(__name__)

SCHEDULER_KEY = "mediacache.scheduler"
SWEEP_LISTENERS = "mediacache.sweep_listeners"  # called with a periodic job's id after each run (metrics)
_start_lock = threading.Lock()


@dataclass(frozen=True)
class PeriodicJob:
    """One periodic job."""

    id: str  # stable: the scheduler replaces, never duplicates, a job with the same id
    run: Callable[[], Any]
    interval: Callable[[dict], int]  # seconds, from the configuration
    quiet: bool = False  # runs often: its outcome is not logged


def start(app: Flask, jobs: Iterable[PeriodicJob]):
    """Start ``jobs`` once per process (a second call is a no-op); None when the scheduler is turned off."""
    with _start_lock:
        if not app.config["SCHEDULER"] or app.extensions.get(SCHEDULER_KEY) is not None:
            return app.extensions.get(SCHEDULER_KEY)
        scheduler = BackgroundScheduler(daemon=True, job_defaults={"coalesce": True, "max_instances": 1})
        for job in jobs:
            scheduler.add_job(in_app_context(app, job), "interval", seconds=job.interval(app.config), id=job.id,
                              name=job.id, replace_existing=True)  # fmt: skip
        scheduler.start()
        app.extensions[SCHEDULER_KEY] = scheduler
        return scheduler


def in_app_context(app: Flask, job: PeriodicJob) -> Callable[[], None]:
    """``job`` as the scheduler runs it: in an app context, failures logged, listeners told."""

    def run() -> None:
        with app.app_context():
            try:
                outcome = job.run()
                for listener in app.extensions.get(SWEEP_LISTENERS, ()):
                    listener(job.id)
                if outcome and not job.quiet:
                    log.info("%s: %s", job.id, outcome)
            except Exception as exc:
                if database_problem(exc) == "busy":
                    # Another process (a backup, the sqlite3 shell) holds the lock: the next run catches
                    # up, and a traceback every interval would bury what the operator needs to see.
                    log.warning("periodic job %s skipped: the database is busy; it runs again in %s s",
                                job.id, job.interval(app.config))  # fmt: skip
                else:
                    log.exception("periodic job %s failed", job.id)
            finally:
                db.session.remove()

    return run


def stop(app: Flask) -> None:
    """Stop the periodic jobs, if running."""
    scheduler = app.extensions.pop(SCHEDULER_KEY, None)
    if scheduler is not None:
        scheduler.shutdown(wait=False)
