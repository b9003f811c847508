"""Logging: one line per request, as text or JSON (MEDIACACHE_LOG_FORMAT)."""

from __future__ import annotations

import atexit
import copy
import json
import logging
import logging.handlers
import queue
import re
import sys
import time
from datetime import UTC, datetime
from functools import lru_cache

from ..patches import logging as logging_patch

request_log = logging.getLogger("mediacache.request")
REQUEST_FIELDS = ("request_id", "user", "method", "route", "path", "status", "duration_ms")
_REQUEST_FORMAT = "%s %s %s %s %s %.1fms"
# Set by configure_logging in the server: request lines go to the writer as plain tuples.
_request_lines: queue.SimpleQueue | None = None


# What a client controls (a path, a tag, a note) must not start a line of its own or disguise one:
# C0 controls, DEL, C1 controls (U+0085 ends a line for str.splitlines), the line and paragraph
# separators, and the bidi marks, embeddings, overrides and isolates that reorder what a reader sees;
# and lone surrogates, which no UTF-8 file or response can hold (stored before such input was refused).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
# json.dumps escapes C0 controls itself; the rest it leaves raw in a line.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Lines of a traceback after the first start with this, so none can pass for a record of its own.
CONTINUATION = "  "


def _escape(match: re.Match) -> str:
    char = match.group()
    return _SHORT_ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """``text`` on one line, every control or bidi character written as an escape (``\\n``, ``\\x00``, ``\\u202e``)."""
    return _UNSAFE.sub(_escape, text)


def _json_line(line: dict) -> str:
    """One JSON object on one line; what JSON may carry raw is escaped too (still the same JSON value)."""
    return _UNSAFE_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", json.dumps(line, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message``; request lines are formatted from their fields, without a record.

    The line is escaped (see ``escape_controls``); a traceback follows on lines of its own,
    each escaped and indented.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _local_stamp(record.created) if datefmt is None else super().formatTime(record, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record)
        line = escape_controls(self.formatMessage(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for more in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)):
            if more:
                line += "".join("\n" + CONTINUATION + escape_controls(part) for part in more.split("\n"))
        return line

    def format_request(self, created: float, fields: dict) -> str:
        """The line ``format`` would give the request's record."""
        return escape_controls(f"{_local_stamp(created)} INFO {request_log.name}: {_request_message(fields)}")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request fields when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            # When it happened, not when the batch was written (BATCH_WINDOW later, or more under load).
            "time": _utc_stamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({name: getattr(record, name) for name in REQUEST_FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # rendered by LightQueueHandler in the thread that logged it
            line["exception"] = record.exc_text
        return _json_line(line)

    def format_request(self, created: float, fields: dict) -> str:
        """The line ``format`` would give the request's record."""
        line = {"time": _utc_stamp(created), "level": "INFO", "logger": request_log.name,
                "message": _request_message(fields), **fields}  # fmt: skip
        return _json_line(line)


def _request_message(fields: dict) -> str:
    return _REQUEST_FORMAT % (fields["request_id"], fields["user"] or "-", fields["method"], fields["path"],
                              fields["status"], fields["duration_ms"])  # fmt: skip


def _local_stamp(created: float) -> str:
    # logging's default asctime ("2026-11-22 11:03:30,071"), the date part made once a second.
    return f"{_local_second(int(created))},{int((created % 1) * 1000):03d}"


def _utc_stamp(created: float) -> str:
    return f"{_utc_second(int(created))}.{int((created % 1) * 1000):03d}Z"


@lru_cache(maxsize=4)
def _local_second(second: int) -> str:
    return time.strftime(logging.Formatter.default_time_format, time.localtime(second))


@lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


BATCH_WINDOW = 0.1  # seconds a burst of records may gather before the writer wakes


class BatchWritingListener(logging.handlers.QueueListener):
    """Writes queued records in batches: one wake-up and one write per burst, not per line.

    Under load, waking the writer for every request line made it and the request threads
    hand the interpreter lock back and forth on every request. Request lines arrive as
    plain fields and are formatted straight into lines; building a record for each was
    most of the writer's work. The writer also gives way every few lines: a burst
    written in one go held the lock for milliseconds, and every request waited that long.
    """

    def handle(self, record) -> None:
        if isinstance(record, tuple):  # a request line (see log_request)
            created, fields = record
            for handler in self.handlers:
                handler.write_request(created, fields)
        else:
            super().handle(record)

    batching = True  # off with a Python the patch was not tested with (patches/logging.py)

    def dequeue(self, block: bool):
        if not self.batching:
            return super().dequeue(block)
        if block and self.queue.empty():
            for handler in self.handlers:
                handler.flush()  # the batch is complete: write it out in one go
            record = self.queue.get()
            if record is not self._sentinel:
                time.sleep(BATCH_WINDOW)
            self._since_pause = 0
            return record
        self._since_pause += 1
        if self._since_pause >= LINES_BETWEEN_PAUSES:
            self._since_pause = 0
            time.sleep(0)  # let the threads answering requests have the interpreter lock
        return self.queue.get(block)

    _since_pause = 0


LINES_BETWEEN_PAUSES = 32


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
        # What the stock handler does, except that the traceback stays apart from the message
        # (it used to be glued onto it): the writer escapes a message onto one line, and gives
        # a traceback lines of its own.
        record = copy.copy(record)
        record.message = record.msg = record.getMessage()
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _PLAIN.formatException(record.exc_info)
        record.exc_info = None
        return record


_IMMUTABLE = frozenset({str, int, float, bool, type(None)})
_PLAIN = logging.Formatter()


class DeferredFlushHandler(logging.StreamHandler):
    """A stream handler that leaves flushing to its listener (see BatchWritingListener)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)

    def write_request(self, created: float, fields: dict) -> None:
        """Write a request line from its fields (the formatter is a TextFormatter or JsonFormatter)."""
        try:
            self.stream.write(self.formatter.format_request(created, fields) + self.terminator)
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": "request line", "name": request_log.name}))


def configure_logging(log_format: str) -> logging.handlers.QueueListener:
    """Root logging for the server process: request threads enqueue, one thread writes.

    Writing from every request thread made them queue on the handler's lock while one of
    them waited on the disk; under load that, not the work, set the response time.
    """
    # A block-buffered stream of its own on stderr: the listener flushes once per batch.
    stream = DeferredFlushHandler(open(sys.stderr.fileno(), "w", buffering=1 << 16, closefd=False))  # noqa: SIM115
    stream.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    # No format of ours shows the process, thread or calling line, so records need not look
    # them up (these are the switches the logging HOWTO lists under "Optimization").
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    BatchWritingListener.batching = logging_patch.PATCH.applies()
    if BatchWritingListener.batching:
        logging_patch.skip_caller_lookups()
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
    # APScheduler narrates every job it adds and every run at INFO: fifteen lines at each start that
    # say nothing an operator acts on. Its warnings (a missed run) and errors still come through.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
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
        # In the server a line is a tuple for the writer thread, which formats it:
        # building records was most of what logging cost each request.
        _request_lines.put((time.time(), fields))
    else:
        request_log.info(_REQUEST_FORMAT, request_id, user or "-", method, path, status, duration_ms, extra=fields)
