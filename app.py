"""Entry point: ``python app.py`` serves mediacache with waitress."""

from __future__ import annotations

import logging
import signal
import sys

from mediacache import create_app
from mediacache.config import ConfigError

log = logging.getLogger("mediacache")


def main() -> int:
    """Build the app and serve it until interrupted."""
    import os

    from mediacache.jobs import freeze_long_lived_objects, get_runner, limit_malloc_arenas
    from mediacache.logconfig import configure_logging

    limit_malloc_arenas()  # before any thread starts
    configure_logging(os.environ.get("MEDIACACHE_LOG_FORMAT", "text").strip().lower())
    try:
        app = create_app()
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return 2
    from mediacache.downloader import guard_self_check
    from mediacache.httpserver import serve
    from mediacache.lifecycle import recover_on_start, start_scheduler, stop_scheduler
    from mediacache.shortcuts import from_memory_paths

    # Proven once at start: every request handler yt-dlp may use connects through the guard.
    if problem := guard_self_check():
        log.error("network guard: %s; downloads and look-ups are refused until this is fixed", problem)
    # Only the serving process runs jobs and sweeps: CLI commands build the app too, but must not.
    recover_on_start(app)
    start_scheduler(app)
    # Out of the collector's way: what start-up built now, and yt-dlp's extractors after the first job.
    freeze_long_lived_objects()
    get_runner(app).freeze_when_warm = True

    host, port = app.config["HOST"], app.config["PORT"]
    # SIGTERM (systemd, docker, kill) ends like Ctrl-C: hits are flushed and queued log lines written.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("mediacache listening on http://%s:%s", host, port)
    try:
        serve(
            app,
            main_loop_paths=from_memory_paths(app),
            host=host,
            port=port,
            threads=app.config["THREADS"],
            ident="mediacache",
        )
    finally:
        stop_scheduler(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
