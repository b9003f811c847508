"""One log line per request, as text or JSON; secrets never in it."""

from __future__ import annotations

import json
import logging

from tests.helpers import ADMIN_PASSWORD, LiveServer, auth_header


def test_each_request_logs_one_line_with_id_user_route_status_and_duration(client, admin, caplog):
    with caplog.at_level(logging.INFO, logger="mediacache.request"):
        client.get("/api/users/me", headers={**admin, "X-Request-ID": "trace-1"})
    records = [r for r in caplog.records if r.name == "mediacache.request"]
    assert len(records) == 1
    record = records[0]
    assert (record.request_id, record.user, record.route, record.status) == ("trace-1", "admin", "/api/users/me", 200)
    assert record.duration_ms >= 0 and "trace-1 admin GET /api/users/me 200" in record.getMessage()


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

    from mediacache.logconfig import JsonFormatter

    record = logging.LogRecord("mediacache.request", logging.INFO, "", 0, "GET /api", None, None)
    record.created = 1_700_000_000.25  # the writer thread formats lines a moment after the fact
    assert json.loads(JsonFormatter().format(record))["time"] == "2023-11-14T22:13:20.250Z"
