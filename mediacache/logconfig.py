"""Logging: one line per request, as text or JSON (MEDIACACHE_LOG_FORMAT)."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import time
from datetime import UTC, datetime

request_log = logging.getLogger("mediacache.request")
REQUEST_FIELDS = ("request_id", "user", "method", "route", "path", "status", "duration_ms")
_REQUEST_FORMAT = "%s %s %s %s %s %.1fms"
# Set by configure_logging in the server: request lines go to the writer as plain tuples.
_request_lines: queue.SimpleQueue | None = None


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request fields when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            # When it happened, not when the batch was written (up to BATCH_WINDOW later).
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({name: getattr(record, name) for name in REQUEST_FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


BATCH_WINDOW = 0.1  # seconds a burst of records may gather before the writer wakes


class BatchWritingListener(logging.handlers.QueueListener):
    """Writes queued records in batches: one wake-up and one write per burst, not per line.

    Under load, waking the writer for every request line made it and the request threads
    hand the interpreter lock back and forth on every request.
    """

    def prepare(self, record):
        if isinstance(record, tuple):  # a request line (see log_request): the record is made here
            created, fields = record
            record = request_log.makeRecord(request_log.name, logging.INFO, "", 0, _REQUEST_FORMAT, (
                fields["request_id"], fields["user"] or "-", fields["method"], fields["path"], fields["status"],
                fields["duration_ms"]), None, extra=fields)  # fmt: skip
            record.created, record.msecs = created, (created % 1) * 1000
        return record

    def dequeue(self, block: bool):
        if block and self.queue.empty():
            for handler in self.handlers:
                handler.flush()  # the batch is complete: write it out in one go
            record = self.queue.get()
            if record is not self._sentinel:
                time.sleep(BATCH_WINDOW)
            return record
        return self.queue.get(block)


class LightQueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer as they are when that is safe, instead of formatting and copying each.

    The stock handler renders the message and copies the record in the calling thread so
    that arguments cannot change before the writer gets to them; plain strings and numbers
    cannot change, and a request line carries nothing else.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        args = record.args if isinstance(record.args, tuple) else None
        if record.exc_info is None and args is not None and all(type(arg) in _IMMUTABLE for arg in args):
            return record
        return super().prepare(record)


_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


class DeferredFlushHandler(logging.StreamHandler):
    """A stream handler that leaves flushing to its listener (see BatchWritingListener)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)


def configure_logging(log_format: str) -> logging.handlers.QueueListener:
    """Root logging for the server process: request threads enqueue, one thread writes.

    Writing from every request thread made them queue on the handler's lock while one of
    them waited on the disk; under load that, not the work, set the response time.
    """
    # A block-buffered stream of its own on stderr: the listener flushes once per batch.
    stream = DeferredFlushHandler(open(sys.stderr.fileno(), "w", buffering=1 << 16, closefd=False))  # noqa: SIM115
    if log_format == "json":
        stream.setFormatter(JsonFormatter())
    else:
        stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # No format of ours shows the process, thread or calling line, so records need not look
    # them up (these are the switches the logging HOWTO lists under "Optimization").
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    logging._srcfile = None
    records: queue.SimpleQueue = queue.SimpleQueue()
    listener = BatchWritingListener(records, stream, respect_handler_level=True)
    listener.start()
    atexit.register(listener.stop)  # write out what is queued when the server stops
    root = logging.getLogger()
    root.handlers[:] = [LightQueueHandler(records)]
    global _request_lines
    _request_lines = records
    root.setLevel(logging.INFO)
    # waitress warns on every burst that queues requests; that is normal load, not news.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    return listener


def log_request(
    request_id: str, user: str | None, method: str, route: str | None, path: str, status: int, duration_ms: float
) -> None:
    """The one line each answered request leaves in the log (never the query string: it may carry a password)."""
    if not request_log.isEnabledFor(logging.INFO):
        return
    fields = {
        "request_id": request_id,
        "user": user,
        "method": method,
        "route": route,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
    }
    if _request_lines is not None:
        # In the server a line is a tuple for the writer thread, which makes the record:
        # building records was most of what logging cost each request.
        _request_lines.put((time.time(), fields))
    else:
        request_log.info(_REQUEST_FORMAT, request_id, user or "-", method, path, status, duration_ms, extra=fields)
