"""A job's status on its row: the claim, each change of stage, and how a failure ends (retry or failed).

Every change is a conditional update through db/media_repo.py: it happens only if the row is
still where the job left it (a client may have cancelled or deleted it meanwhile), and is
published as an entry event after its commit. A transient failure goes back to pending with
``retry_at`` and a backoff; ``run_due_retries`` is the periodic backstop for the runner's timers.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select

from ..core.states import WORKING_STATES, Status
from ..core.timeutil import isoformat, utcnow
from ..db import media_repo
from ..db.extensions import db
from ..db.models import Media
from ..jobs.runner import get_runner
from ..sources.jobcontrol import JobError
from . import events

log = logging.getLogger(__name__)


def transition(media_id: str, from_states: tuple[str, ...], **values: Any) -> bool:
    """A conditional update: succeeds only if the row is still in one of ``from_states``."""
    changed = media_repo.change(media_id, Media.status.in_(from_states), updated_at=utcnow(), **values)
    db.session.commit()
    if changed:
        events.publish_entry_change(media_id)  # after the commit: long-polls and event streams hear of it
    return changed


def claim(media_id: str) -> bool:
    """pending → downloading, unless the entry waits for a retry that is not due yet."""
    now = utcnow()
    claimed = media_repo.change(
        media_id, Media.status == Status.PENDING, or_(Media.retry_at.is_(None), Media.retry_at <= now),
        status=Status.DOWNLOADING, error_code=None, error_message=None, retry_at=None, progress=None, updated_at=now,
    )  # fmt: skip
    db.session.commit()
    if claimed:
        events.publish_entry_change(media_id)  # after the commit: long-polls and event streams hear of it
    return claimed


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: about base·2^(attempt-1), never over ``cap``, never all at once."""
    delay = min(cap, base * 2 ** (attempt - 1))
    # Half fixed, half random: jobs that failed together (one bot check, many entries) spread out.
    return delay / 2 + random.uniform(0, delay / 2)


def retry_or_fail(media_id: str, error: JobError) -> str:
    """A transient failure: back to pending with ``retry_at`` (kept in the row), or failed once retries are spent."""
    config = current_app.config
    attempts = (db.session.scalar(select(Media.attempts).where(Media.id == media_id)) or 0) + 1
    if attempts > config["RETRY_ATTEMPTS"]:
        transition(media_id, WORKING_STATES, attempts=attempts)
        message = f"{error.message} (still failing after {attempts} attempts)" if attempts > 1 else error.message
        return fail(media_id, error.code, message[:1024])
    delay = retry_delay(attempts, config["RETRY_BASE_DELAY"], config["RETRY_MAX_DELAY"])
    retry_at = utcnow() + timedelta(seconds=delay)
    progress = {
        "stage": "waiting", "percent": None, "downloaded_bytes": None, "total_bytes": None, "speed": None,
        "eta": round(delay), "attempts": attempts, "max_attempts": config["RETRY_ATTEMPTS"] + 1,
        "retry_at": isoformat(retry_at), "last_error": {"code": error.code, "message": error.message},
    }  # fmt: skip
    if not transition(media_id, WORKING_STATES, status=Status.PENDING, attempts=attempts,
                      retry_at=retry_at, progress=progress):  # fmt: skip
        return "cancelled"  # cancelled or deleted meanwhile: nothing to retry
    log.info("job %s: %s; retry %d in %.1f s", media_id, error.code, attempts, delay)
    get_runner(current_app).submit_later(media_id, delay)
    return "retrying"


def fail(media_id: str, code: str, message: str) -> str:
    """The job ends failed with ``code`` (unless the row was cancelled or deleted meanwhile)."""
    transition(
        media_id, WORKING_STATES,
        status=Status.FAILED, error_code=code, error_message=message, progress=None,
    )  # fmt: skip
    return "failed"


def run_due_retries() -> int:
    """Submit entries whose retry is due (a backstop for the runner's own timers, e.g. after a clock jump)."""
    due = db.session.scalars(
        select(Media.id).where(Media.status == Status.PENDING, Media.retry_at.is_not(None), Media.retry_at <= utcnow())
    ).all()
    runner = get_runner(current_app)
    for media_id in due:
        runner.submit(media_id)  # a second submission of one entry claims nothing
    return len(due)
