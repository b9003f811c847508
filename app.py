"""Entry point: ``python app.py`` serves mediacache with waitress."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import sys

from flask import Config
from sqlalchemy.exc import DBAPIError

from mediacache import create_app
from mediacache.config.loading import ConfigError, instance_dir_from, load_config
from mediacache.db.database import database_path, database_problem
from mediacache.jobs.background import get_background_lane
from mediacache.jobs.memory import freeze_long_lived_objects, limit_malloc_arenas
from mediacache.jobs.runner import get_runner
from mediacache.jobs.webhook_sender import get_sender
from mediacache.media.events import get_notifier
from mediacache.media.periodic import start_scheduler, stop_scheduler
from mediacache.media.reconcile import recover_on_start
from mediacache.ops.health import deployment_warning
from mediacache.ops.logging import configure_logging
from mediacache.patches.waitress import raise_open_file_limit, serve
from mediacache.sources.ytdlp_downloader import guard_self_check
from mediacache.web.fastpath import from_memory_paths
from mediacache.web.routes.events import waits_for_long

log = logging.getLogger("mediacache")
# Descriptors kept for what is not a connection: the database, logs, job files, ffmpeg's pipes.
RESERVED_DESCRIPTORS = 256


def main() -> int:
    """Build the app and serve it until interrupted."""

    limit_malloc_arenas()  # before any thread starts
    log_writer = configure_logging(os.environ.get("MEDIACACHE_LOG_FORMAT", "text").strip().lower())

    try:
        app = create_app()
        # Only the serving process runs jobs and sweeps: CLI commands build the app too, but must not.
        recover_on_start(app)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return 2
    except (DBAPIError, sqlite3.DatabaseError) as exc:
        # One line an operator can act on, not the traceback of the first query that met the file.
        log.error("%s", database_start_error(exc))
        return 1

    # Proven once at start: every request handler yt-dlp may use connects through the guard.
    if problem := guard_self_check():
        log.error("network guard: %s; downloads and look-ups are refused until this is fixed", problem)
    start_scheduler(app)
    get_sender(app).start()  # webhooks a crash or stop left unsent go out now
    # Out of the collector's way: what start-up built now, and yt-dlp's extractors after the first job.
    freeze_long_lived_objects()
    get_runner(app).freeze_when_warm = True

    config = app.config
    host, port = config["HOST"], config["PORT"]
    connection_limit = config["CONNECTION_LIMIT"]
    descriptors = raise_open_file_limit(connection_limit + RESERVED_DESCRIPTORS)
    if descriptors - RESERVED_DESCRIPTORS < connection_limit:
        # Past the open-file limit accept() fails and waitress's loop spins on the listener: stay under it.
        connection_limit = max(1, descriptors - RESERVED_DESCRIPTORS)
        log.warning(
            "MEDIACACHE_CONNECTION_LIMIT lowered to %d: the open-file limit is %d (raise it with ulimit -n)",
            connection_limit, descriptors,
        )  # fmt: skip
    runner = get_runner(app)
    # SIGTERM (systemd, docker, kill) ends like Ctrl-C: jobs are cancelled and left pending for
    # the next start, hits are flushed and queued log lines written, all within STOP_TIMEOUT.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("mediacache listening on http://%s:%s", host, port)
    if warning := deployment_warning(app.config):
        log.warning(warning)  # also shown by /api/health's deployment check
    try:
        serve(
            app,
            main_loop_paths=from_memory_paths(app),
            host=host,
            port=port,
            threads=config["THREADS"],
            ident="mediacache",
            connection_limit=connection_limit,
            channel_timeout=config["IDLE_TIMEOUT"],
            header_timeout=config["HEADER_TIMEOUT"],
            body_timeout=config["BODY_TIMEOUT"],
            max_connections_per_address=config["MAX_CONNECTIONS_PER_ADDRESS"],
            # Long-polls and event streams get threads of their own, enough for their caps and a margin
            # to answer those past the caps at once (media/waiting.py); the THREADS serve everything else.
            waiting_requests=waits_for_long,
            waiting_threads=config["LONGPOLL_MAX_WAITERS"] + config["EVENTS_MAX_STREAMS"] + config["THREADS"],
            cleanup_interval=1,  # how often held connections are checked against the timeouts
            # Jobs are cancelled while waitress waits for its request threads, not after.
            on_shutdown=lambda: stop_serving(app, runner, config["STOP_TIMEOUT"]),
        )
    finally:
        stop_serving(app, runner, config["STOP_TIMEOUT"])  # no-op if the loop's end already did
        stop_scheduler(app)
        get_sender(app).stop()  # a try under way is cut off and stays pending for the next start
        get_background_lane(app).stop()  # a measurement under way ends; the next start measures it again
        if not runner.wait_stopped():
            # A job stuck where it cannot see its cancel (a read that never returns) must not
            # hold the process: its entry is still downloading or processing, which the next
            # start puts back to pending and runs again.
            log.warning("jobs did not stop within %s s; exiting anyway", config["STOP_TIMEOUT"])
            log_writer.stop()
            for handler in log_writer.handlers:
                handler.flush()  # the writer leaves its last batch buffered; exit would have flushed it
            os._exit(0)
    return 0


def stop_serving(app, runner, timeout: float) -> None:
    """The server stops: waiting clients are answered and streams end, jobs are cancelled (left pending)."""
    get_notifier(app).hub.close()
    runner.begin_stop(timeout)


def database_start_error(exc: BaseException) -> str:
    """What to tell the operator when the database stops start-up: which file, what is wrong, what to do."""

    # The configuration as create_app layered it (it failed, so there is no app to ask).
    instance_config = Config(instance_dir_from(None))
    instance_config.from_pyfile("config.py", silent=True)
    where = database_path(load_config(dict(instance_config), None))
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    problem = database_problem(exc)
    if problem == "damaged":
        return (f"database {where} is damaged ({reason}); restore it from a backup "
                "or move it aside to start fresh")  # fmt: skip
    if problem == "busy":
        return f"database {where} is locked by another process ({reason}); stop it, then start again"
    return f"cannot use database {where} ({reason}); check the path, its permissions and free space"


if __name__ == "__main__":
    sys.exit(main())
