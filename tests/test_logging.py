"""One log line per request, as text or JSON; secrets never in it."""

from __future__ import annotations

import json
import logging

import pytest

from tests.helpers import ADMIN_PASSWORD, LiveServer, auth_header


def test_each_request_logs_one_line_with_id_user_route_status_and_duration(client, admin, caplog):
    with caplog.at_level(logging.INFO, logger="mediacache.request"):
        client.get("/api/users/me", headers={**admin, "X-Request-ID": "trace-1"})
    records = [r for r in caplog.records if r.name == "mediacache.request"]
    assert len(records) == 1
    record = records[0]
    assert (record.request_id, record.user, record.route, record.status) == ("trace-1", "admin", "/api/users/me", 200)
    assert record.duration_ms >= 0 and "trace-1 admin GET /api/users/me 200" in record.getMessage()


@pytest.mark.e2e
def test_json_log_format_and_no_password_in_any_line(tmp_path):
    server = LiveServer(tmp_path, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD, MEDIACACHE_LOG_FORMAT="json").start()
    try:
        server("POST", f"/api/login?username=admin&password={ADMIN_PASSWORD}")
        token = server("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})[2]["token"]
        server("GET", "/api/users/me", headers=auth_header(token))
    finally:
        server.stop()
    log = server.log()
    assert ADMIN_PASSWORD not in log and token not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["logger"] == "mediacache.request"]
    assert any(line["route"] == "/api/users/me" and line["user"] == "admin" and line["status"] == 200
               for line in requests)  # fmt: skip
    assert all({"time", "level", "message", "request_id", "duration_ms"} <= line.keys() for line in requests)


def test_a_json_line_carries_the_time_it_was_logged_not_the_time_it_was_written():
    import logging

    from mediacache.ops.logging import JsonFormatter

    record = logging.LogRecord("mediacache.request", logging.INFO, "", 0, "GET /api", None, None)
    record.created = 1_700_000_000.25  # the writer thread formats lines a moment after the fact
    assert json.loads(JsonFormatter().format(record))["time"] == "2023-11-14T22:13:20.250Z"


def _request_record(caplog, **fields) -> logging.LogRecord:
    """The record ``log_request`` makes outside the server (where no writer thread takes plain fields)."""
    from mediacache.ops.logging import log_request

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mediacache.request"):
        log_request(**fields)
    (record,) = caplog.records
    return record


@pytest.mark.parametrize("kind", ["text", "json"])
def test_the_writer_formats_a_request_line_from_its_fields_as_the_record_would_read(kind, caplog):
    from mediacache.ops.logging import REQUEST_FIELDS, JsonFormatter, TextFormatter

    formatter = TextFormatter() if kind == "text" else JsonFormatter()
    for user in ("admin", None):
        record = _request_record(caplog, request_id="r-1", user=user, method="GET", route="/api/media/<media_id>",
                                 path="/api/media/ab", status=200, duration_ms=0.4)  # fmt: skip
        fields = {name: getattr(record, name) for name in REQUEST_FIELDS}
        assert formatter.format_request(record.created, fields) == formatter.format(record)


def test_the_writer_thread_writes_every_queued_line_in_order(tmp_path):
    import io
    import queue

    from mediacache.ops.logging import BatchWritingListener, DeferredFlushHandler, TextFormatter

    stream = io.StringIO()
    handler = DeferredFlushHandler(stream)
    handler.setFormatter(TextFormatter())
    lines: queue.SimpleQueue = queue.SimpleQueue()
    fields = {"user": None, "method": "GET", "route": None, "path": "/", "status": 200, "duration_ms": 0.1}
    for number in range(100):  # more than a burst, so the writer pauses along the way
        lines.put((1_700_000_000.0 + number, {**fields, "request_id": f"r{number}"}))
    lines.put(logging.makeLogRecord({"name": "mediacache", "levelno": logging.WARNING, "levelname": "WARNING",
                                     "msg": "disk %s full", "args": ("almost",)}))  # fmt: skip
    listener = BatchWritingListener(lines, handler)
    listener.start()
    listener.stop()
    written = stream.getvalue().splitlines()
    assert [line.split(" INFO mediacache.request: ")[1].split()[0] for line in written[:100]] == [
        f"r{number}" for number in range(100)
    ]
    assert written[100].endswith("WARNING mediacache: disk almost full") and len(written) == 101
