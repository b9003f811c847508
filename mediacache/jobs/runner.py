"""The job runner: a ThreadPoolExecutor as a Flask extension, fed entry ids.

It knows nothing of what a job does: the work function (media/pipeline.py's
``process_entry``) is handed to it when the app is built, and whoever wants to hear about
finished jobs (metrics) adds a listener. It schedules runs (one per entry at a time, retries
at their time), sizes and stops the pool; what one run carries (its cancel signal, its
progress) is run.py's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from flask import Flask
from sqlalchemy import select

from ..core.gauges import Gauge
from ..core.states import Status
from ..core.timeutil import utcnow
from ..db.extensions import db
from ..db.models import Media
from .memory import freeze_long_lived_objects, release_free_memory
from .run import ProgressReporter, Run

log = logging.getLogger(__name__)

EXTENSION_KEY = "mediacache.jobs"
LET_WAITERS_ANSWER = 0.05  # seconds a worker gone idle waits before it collects garbage
Work = Callable[[str, Run, ProgressReporter, threading.Event], str]


class JobRunner:
    """Runs the jobs of entry ids on a pool of named worker threads, one run per entry at a time."""

    def __init__(self, app: Flask | None = None, work: Work | None = None) -> None:
        self.app: Flask | None = None
        # What a run does: (entry id, run, progress reporter) → outcome ("completed", "failed", "skipped", …).
        self.work = work
        # Called with (outcome, seconds) after every job that ran.
        self.finished_listeners: list[Callable[[str, float], None]] = []
        # Called with the entry id after each progress write is committed (media/events.py tells readers).
        self.progress_listeners: list[Callable[[str], None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        # The run of each entry that is running or waiting for a worker; a later one waits in its ``next``.
        self._runs: dict[str, Run] = {}
        self._stopping = False
        # Retries waiting for their time (retry_at is in the row too: a restart schedules them again).
        self._timers: set[threading.Timer] = set()
        self.size = 0
        # Set when the server stops: a job cancelled then leaves its entry pending for the next start.
        self.stopping = threading.Event()
        self._stop_deadline: float | None = None
        # The serving process sets this (see freeze_long_lived_objects); tests and CLI runs do not.
        self.freeze_when_warm = False
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Attach to the app; the pool starts with the first job."""
        self.app = app
        self.size = app.config["WORKERS"]
        app.extensions[EXTENSION_KEY] = self

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The pool, created on first use so CLI commands never start threads."""
        with self._lock:
            return self._pool()

    def _pool(self) -> ThreadPoolExecutor:
        # Called with self._lock held.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="mediacache-job")
        return self._executor

    def resize(self, workers: int) -> None:
        """Change the pool size without a restart: new jobs go to a new pool, the old one drains."""
        with self._lock:
            old, self._executor = self._executor, None
            self.size = workers
        if old is not None:
            old.shutdown(wait=False)  # queued jobs of the old pool still run; nothing is dropped

    def _all_runs(self) -> list[Run]:
        with self._lock:
            runs = []
            for run in self._runs.values():
                while run is not None:
                    runs.append(run)
                    run = run.next
            return runs

    def busy_count(self) -> int:
        """Workers running a job right now."""
        return sum(1 for run in self._all_runs() if run.running)

    def waiting_count(self) -> int:
        """Jobs submitted and not yet started by a worker."""
        return sum(1 for run in self._all_runs() if not run.running)

    def submit(self, media_id: str) -> None:
        """Run the entry's job as soon as a worker is free (and any earlier run of it has ended)."""
        with self._lock:
            current = self._runs.get(media_id)
            if current is None:
                run = self._runs[media_id] = Run(media_id)
            else:
                # An earlier run is still going, or still stopping after a cancel: the new run starts
                # when it has ended, so two runs of one entry never overlap. One waiting run is enough:
                # when it starts it claims the row as the row is then.
                if current.next is None:
                    current.next = Run(media_id)
                return
        self._start(run)

    def _start(self, run: Run) -> None:
        with self._lock:
            # Checked under the lock begin_stop takes, so no pool is made once the server stops.
            if not self._stopping:
                run.future = self._pool().submit(self._run, run)
        future = run.future
        if future is None:
            self._forget(run)  # its row stays pending: the next start submits it again
            return
        # A run the pool drops unstarted (shutdown) must not count as waiting for ever.
        future.add_done_callback(lambda done: self._forget(run) if done.cancelled() else None)

    def submit_later(self, media_id: str, delay: float) -> None:
        """Submit the entry's job after ``delay`` seconds (a retry's backoff), on a named timer thread."""

        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            self.submit(media_id)

        timer = threading.Timer(max(0.0, delay), fire)
        timer.daemon = True
        timer.name = f"mediacache-retry-{media_id[:8]}"
        with self._lock:
            if self._stopping:
                return
            self._timers.add(timer)
        timer.start()

    def cancel(self, media_id: str) -> None:
        """Ask the entry's running job to stop (yt-dlp stops at its next chunk, ffmpeg is killed)."""
        with self._lock:
            run = self._runs.get(media_id)
        if run is not None:
            run.stop()

    def live_progress(self, media_id: str) -> dict[str, Any] | None:
        """The freshest progress of a job running in this process."""
        run = self._runs.get(media_id)
        return None if run is None or run.cancel.is_set() else run.progress

    def pending_count(self) -> int:
        """Jobs submitted and not yet finished."""
        return len(self._all_runs())

    def wait_idle(self, timeout: float = 60) -> bool:
        """Block until no job is running (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while self.pending_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.pending_count()

    def shutdown(self) -> None:
        """Cancel every job and wait for the workers to leave."""
        with self._lock:
            self._stopping = True
            runs = list(self._runs.values())
            executor, self._executor = self._executor, None
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
        for run in runs:
            run.stop()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def begin_stop(self, timeout: float) -> None:
        """Stop for a restart: no job starts, running ones are cancelled and leave their entries pending.

        Returns at once; ``wait_stopped`` waits for the workers, until ``timeout`` seconds from
        the first call. Calling it again changes nothing.
        """
        with self._lock:
            if self._stop_deadline is not None:
                return
            self._stop_deadline = time.monotonic() + timeout
            self._stopping = True
            self.stopping.set()  # before any cancel: a job that sees its cancel sees this too
            runs = list(self._runs.values())
            executor, self._executor = self._executor, None
        for run in runs:
            if run.future is not None:
                run.future.cancel()  # not started yet (any pool, resized ones too): the entry is still pending
            run.stop()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def wait_stopped(self) -> bool:
        """After ``begin_stop``: wait for running jobs to end, until its deadline; True if none is left."""
        deadline = self._stop_deadline if self._stop_deadline is not None else time.monotonic()
        futures = [run.future for run in self._all_runs() if run.future is not None]
        _, running = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        return not running

    def resubmit_pending(self) -> int:
        """Submit every pending entry (after a restart, nothing in memory knows them); a retry at its time."""
        with self.app.app_context():
            pending = db.session.execute(select(Media.id, Media.retry_at).where(Media.status == Status.PENDING)).all()
            db.session.remove()
        now = utcnow()
        for media_id, retry_at in pending:
            if retry_at is not None and retry_at > now:
                self.submit_later(media_id, (retry_at - now).total_seconds())
            else:
                self.submit(media_id)
        return len(pending)

    def _forget(self, run: Run) -> Run | None:
        """Take an ended run out of the registry; returns the run queued behind it, now current."""
        with self._lock:
            following = None if self._stopping else run.next
            if self._runs.get(run.media_id) is run:
                if following is None:
                    del self._runs[run.media_id]
                else:
                    self._runs[run.media_id] = following
            return following

    def gauges(self) -> list[Gauge]:
        """What the runner reports at scrape time."""
        return [
            Gauge("mediacache_queue_depth", "Jobs waiting for a worker.", self.waiting_count),
            Gauge("mediacache_workers_busy", "Workers running a job.", self.busy_count),
            Gauge("mediacache_workers", "Size of the worker pool.", lambda: self.size),
        ]

    def _run(self, run: Run) -> None:
        media_id = run.media_id
        reporter = ProgressReporter(run, self.progress_listeners)
        started = time.monotonic()
        outcome = "crashed"
        try:
            if self.stopping.is_set():
                outcome = "skipped"  # started as the server stops: the entry stays pending
                return
            with self.app.app_context():
                try:
                    outcome = self.work(media_id, run, reporter, self.stopping)
                finally:
                    db.session.remove()
        except Exception:  # a worker must survive anything one job throws
            log.exception("job %s crashed", media_id)
        finally:
            # A deferred run (its site at its limit) has not run yet: it comes back when a slot is free.
            if outcome not in ("skipped", "deferred"):
                for listener in self.finished_listeners:
                    listener(outcome, time.monotonic() - started)
            if self.pending_count() <= 1:
                # Only when the pool goes idle: a full collection would stall the next job of a burst.
                # And a moment after the job's end: the collection holds the GIL for tens of ms, and the
                # long-polls and event streams woken by the final state answer first (issue 18's ≤ 50 ms).
                time.sleep(LET_WAITERS_ANSWER)
                release_free_memory()
                if self.freeze_when_warm:
                    # yt-dlp's extractors are loaded now and stay for the life of the process.
                    self.freeze_when_warm = False
                    freeze_long_lived_objects()
            # Last: until now the run still counts as pending (wait_idle), and the next run of this
            # entry, if one was queued meanwhile, starts only after this one has wholly ended.
            following = self._forget(run)
            if following is not None:
                self._start(following)


def get_runner(app: Flask) -> JobRunner:
    """The app's job runner."""
    return app.extensions[EXTENSION_KEY]
