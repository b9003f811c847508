"""Entry point: ``python app.py`` serves mediacache with waitress."""

from __future__ import annotations

import logging
import signal
import sys

from mediacache import create_app
from mediacache.config import ConfigError

log = logging.getLogger("mediacache")
# Descriptors kept for what is not a connection: the database, logs, job files, ffmpeg's pipes.
RESERVED_DESCRIPTORS = 256


def main() -> int:
    """Build the app and serve it until interrupted."""
    import os

    from mediacache.jobs import freeze_long_lived_objects, get_runner, limit_malloc_arenas
    from mediacache.logconfig import configure_logging

    limit_malloc_arenas()  # before any thread starts
    log_writer = configure_logging(os.environ.get("MEDIACACHE_LOG_FORMAT", "text").strip().lower())
    try:
        app = create_app()
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return 2
    from mediacache.httpserver import raise_open_file_limit, serve
    from mediacache.lifecycle import recover_on_start, start_scheduler, stop_scheduler
    from mediacache.shortcuts import from_memory_paths

    # Only the serving process runs jobs and sweeps: CLI commands build the app too, but must not.
    recover_on_start(app)
    start_scheduler(app)
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
            cleanup_interval=1,  # how often held connections are checked against the two timeouts
            # Jobs are cancelled while waitress waits for its request threads, not after.
            on_shutdown=lambda: runner.begin_stop(config["STOP_TIMEOUT"]),
        )
    finally:
        runner.begin_stop(config["STOP_TIMEOUT"])  # no-op if the loop's end already did
        stop_scheduler(app)
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


if __name__ == "__main__":
    sys.exit(main())
