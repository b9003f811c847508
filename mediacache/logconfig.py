"""Logging: one line per request, as text or JSON (MEDIACACHE_LOG_FORMAT)."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import time

from flask import Flask, g, request

from .timeutil import isoformat, utcnow

request_log = logging.getLogger("mediacache.request")
REQUEST_FIELDS = ("request_id", "user", "method", "route", "path", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request fields when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": isoformat(utcnow()),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({name: getattr(record, name) for name in REQUEST_FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(log_format: str) -> logging.handlers.QueueListener:
    """Root logging for the server process: request threads enqueue, one thread writes.

    Writing from every request thread made them queue on the handler's lock while one of
    them waited on the disk; under load that, not the work, set the response time.
    """
    stream = logging.StreamHandler()
    if log_format == "json":
        stream.setFormatter(JsonFormatter())
    else:
        stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    records: queue.SimpleQueue = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, stream, respect_handler_level=True)
    listener.start()
    atexit.register(listener.stop)  # write out what is queued when the server stops
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(records)]
    root.setLevel(logging.INFO)
    # waitress warns on every burst that queues requests; that is normal load, not news.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    return listener


def register_request_logging(app: Flask) -> None:
    """Log every request once it is answered: id, user, route, status, duration."""

    @app.before_request
    def start_clock() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        started = g.pop("request_started", None)
        if started is None:
            return response
        jwt_user = g.get("_jwt_extended_jwt_user") or {}
        user = getattr(jwt_user.get("loaded_user"), "username", None)
        fields = {
            "request_id": g.get("request_id"),
            "user": user,
            "method": request.method,
            "route": request.url_rule.rule if request.url_rule else None,
            "path": request.path,  # never the query string: it may carry a password
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        request_log.info(
            "%s %s %s %s %s %.1fms", fields["request_id"], user or "-", request.method, request.path,
            response.status_code, fields["duration_ms"], extra=fields,
        )  # fmt: skip
        return response
