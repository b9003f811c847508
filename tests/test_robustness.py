"""Hostile input and a sick database: deep JSON, control characters in logs, a locked or damaged SQLite file."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from mediacache import create_app
from mediacache.db.extensions import db
from tests.helpers import ADMIN_PASSWORD, ROOT, LiveServer, finished_entry, make_settings
from tests.test_errors import assert_envelope

# Deep enough that the JSON parser itself gives up (RecursionError), far past any stack limit.
PARSER_BREAKING = "[" * 100_000 + "]" * 100_000
# Parses, but deeper than any parameter needs, and deep enough to make encoders and validators recurse.
DEEP_OBJECT = '{"a": ' * 900 + "1" + "}" * 900
# Small enough for the 4 KiB limit of `extra`, too deep for anything else.
DEEP_EXTRA = {"url": "http://127.0.0.1:9/a.mp3", "extra": "[" * 1500 + "]" * 1500}


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/api/login", None),
        ("/api/auth/login", None),
        ("/api/register", None),
        ("/api/media/queue", "user"),
        ("/api/token", "user"),
        ("/api/ytdlp", "user"),
        ("/api/users", "admin"),
    ],
)
@pytest.mark.parametrize("body", [PARSER_BREAKING, DEEP_OBJECT], ids=["parser-breaking", "deep-object"])
def test_deeply_nested_json_body_is_400_invalid_json(request, client, path, who, body):
    headers = request.getfixturevalue(who) if who else {}
    response = client.post(path, data=body, content_type="application/json", headers=headers)
    assert_envelope(response, 400, "INVALID_JSON")
    assert "nested" in response.json["error"]["message"]


def test_deeply_nested_json_body_of_a_get_is_400_invalid_json(client, user):
    response = client.get("/api/media", data=PARSER_BREAKING, content_type="application/json", headers=user)
    assert_envelope(response, 400, "INVALID_JSON")


def test_deeply_nested_extra_given_as_a_string_is_400_invalid_extra(client, user):
    assert_envelope(client.post("/api/media/queue", json=DEEP_EXTRA, headers=user), 400, "INVALID_EXTRA")
    form = client.post("/api/media/queue", data=DEEP_EXTRA, headers=user)
    assert_envelope(form, 400, "INVALID_EXTRA")


# A lone surrogate: valid JSON, but no Unicode text; nothing can store, log or print it as UTF-8.
LONE_SURROGATE = "\\ud800"


@pytest.mark.parametrize(
    ("path", "who", "body"),
    [
        ("/api/login", None, f'{{"username": "admin", "password": "abcdefgh{LONE_SURROGATE}"}}'),
        ("/api/login", None, f'{{"username": "{LONE_SURROGATE}", "password": "abcdefgh"}}'),
        ("/api/token", "user", f'{{"username": "{LONE_SURROGATE}"}}'),
        ("/api/media/queue", "user", f'{{"url": "https://example.org/{LONE_SURROGATE}.mp3"}}'),
        ("/api/media/queue", "user", f'{{"url": "https://example.org/a.mp3", "extra": {{"{LONE_SURROGATE}": 1}}}}'),
        ("/api/ytdlp", "user", f'{{"url": "https://example.org/{LONE_SURROGATE}"}}'),
        ("/api/users", "admin", f'{{"username": "someone", "password": "{LONE_SURROGATE}long-enough"}}'),
        ("/api/admin/jobs/requeue", "admin", f'{{"ids": ["{LONE_SURROGATE}"]}}'),
    ],
)
def test_a_lone_surrogate_in_a_json_body_is_400_not_500(request, client, path, who, body):
    headers = request.getfixturevalue(who) if who else {}
    response = client.post(path, data=body, content_type="application/json", headers=headers)
    assert_envelope(response, 400, "INVALID_JSON")
    assert "surrogate" in response.json["error"]["message"]


def test_a_lone_surrogate_in_extra_given_as_a_string_is_400(client, user):
    body = {"url": "https://example.org/a.mp3", "extra": f'{{"{LONE_SURROGATE}": "x"}}'}
    assert client.post("/api/media/queue", json=body, headers=user).status_code == 400


def test_a_request_log_line_stored_with_a_lone_surrogate_still_reads(app, client, admin):
    """Rows written before such input was refused: the text log escapes them instead of failing."""
    from mediacache.db.models import RequestLog

    with app.app_context():
        db.session.add(RequestLog(username="admin", url="https://example.org/a.mp3", status_code=201,
                                  outcome="queued", extra={"\ud800": "x"}))  # fmt: skip
        db.session.commit()
    response = client.get("/api/logs", headers=admin)
    assert response.status_code == 200
    assert "\\ud800" in response.get_data(as_text=True)


def test_ordinary_nesting_in_extra_is_still_accepted(client, user):
    extra = {"round": {"players": [{"ckey": "p1", "tags": ["a", ["b"]]}]}}
    # Nothing listens on port 9: the job fails at once, the request log keeps the call.
    response = client.post("/api/media/queue", json={"url": "http://127.0.0.1:9/a.mp3", "extra": extra}, headers=user)
    assert response.status_code == 201, response.json
    assert json.dumps(extra) in json.dumps(client.get("/api/logs?format=json", headers=user).json["items"][0])


# --- control characters in log lines (14.9) ------------------------------------------------

# A line break, a carriage return and a NUL, then a forged record; then a right-to-left override,
# U+2028, U+0085 (both end a line for str.splitlines), DEL and a bidi isolate.
FORGED_PATH = (
    "/api/nothing%0A2026-01-01%2000:00:00,000%20INFO%20mediacache:%20forged%0D%00%E2%80%AE%E2%80%A8%C2%85%7F%E2%81%A6"
)
FORGED_ESCAPED = "\\n2026-01-01 00:00:00,000 INFO mediacache: forged\\r\\x00\\u202e\\u2028\\x85\\x7f\\u2066"
UNSAFE_CHARACTERS = "\n\r\x00\u202e\u2028\x85\x7f\u2066"


@pytest.mark.e2e
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_control_characters_in_a_path_cannot_forge_a_log_line(tmp_path, log_format):
    server = LiveServer(tmp_path, MEDIACACHE_LOG_FORMAT=log_format).start()
    try:
        assert server("GET", FORGED_PATH, headers={"X-Request-ID": "forge-1"})[0] == 404
        log = server.wait_for_log("forge-1")
    finally:
        server.stop()
    (line,) = [line for line in log.splitlines() if "forge-1" in line]
    assert not any(char in line for char in UNSAFE_CHARACTERS)
    assert [line for line in log.splitlines() if "forged" in line] == [line]
    if log_format == "text":
        assert FORGED_ESCAPED in line
    else:  # the escapes are JSON's: the value read back is the path as sent
        sent = "/api/nothing\n2026-01-01 00:00:00,000 INFO mediacache: forged\r\x00\u202e\u2028\x85\x7f\u2066"
        assert json.loads(line)["path"] == sent


def test_a_traceback_follows_its_line_escaped_and_indented_so_no_line_passes_for_a_record():
    import io
    import queue

    from mediacache.ops.logging import BatchWritingListener, DeferredFlushHandler, LightQueueHandler, TextFormatter

    stream = io.StringIO()
    handler = DeferredFlushHandler(stream)
    handler.setFormatter(TextFormatter())
    records: queue.SimpleQueue = queue.SimpleQueue()
    listener = BatchWritingListener(records, handler)
    listener.start()
    logger = logging.getLogger("mediacache.test-forgery")
    logger.addHandler(LightQueueHandler(records))
    logger.propagate = False
    try:
        try:
            raise ValueError("bad tag\n2026-01-01 00:00:00,000 INFO mediacache: forged\u2028")
        except ValueError:
            logger.exception("job %s crashed\nforged too", "abc\u202e")
    finally:
        listener.stop()
        logger.handlers.clear()
    first, *rest = stream.getvalue().splitlines()
    assert first.endswith("ERROR mediacache.test-forgery: job abc\\u202e crashed\\nforged too")
    assert rest[0] == "  Traceback (most recent call last):"
    # The exception's own line break starts an indented line, never a record.
    assert rest[-2:] == ["  ValueError: bad tag", "  2026-01-01 00:00:00,000 INFO mediacache: forged\\u2028"]
    assert all(line.startswith("  ") for line in rest)


def test_request_log_text_keeps_each_entry_on_one_escaped_line(client, user):
    extra = {"ckey": "p1\n2026-01-01T00:00:00Z admin 201 queued", "note": "\u202eevil\u2028\x85"}
    client.post("/api/media/queue", json={"url": "http://127.0.0.1:9/b.mp3", "extra": extra}, headers=user)
    client.post("/api/media/queue", json={"url": "http://127.0.0.1:9/c.mp3"}, headers=user)
    text = client.get("/api/logs", headers=user).get_data(as_text=True)
    lines = text.splitlines()
    assert len(lines) == 2 and not any(char in text for char in "\u202e\u2028\x85")
    assert '"ckey": "p1\\n2026-01-01T00:00:00Z admin 201 queued"' in lines[1]  # JSON's own escape
    assert "\\u202eevil\\u2028\\x85" in lines[1]


# --- a locked database (14.17) -------------------------------------------------------------


@contextlib.contextmanager
def database_held(app, *, readers_too: bool = False):
    """Another process holds the database's write lock (with ``readers_too``, the whole file) until the block ends."""
    if readers_too:
        # Open connections keep a shared lock on a WAL database; the app opens new ones as needed.
        with app.app_context():
            db.engine.dispose()
    holder = sqlite3.connect(Path(app.config["INSTANCE_DIR"]) / "mediacache.db", isolation_level=None)
    try:
        if readers_too:  # what a backup or restore tool may do: nobody reads a file being rewritten
            holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        holder.close()


def assert_busy(response) -> None:
    assert_envelope(response, 503, "DATABASE_BUSY")
    assert int(response.headers["Retry-After"]) >= 1


def test_a_write_locked_out_past_the_busy_timeout_is_503_database_busy_with_retry_after(configured):
    app, client, admin = configured(DB_BUSY_TIMEOUT_MS=200)
    new_user = {"username": "late", "password": "late-pass-1"}
    with database_held(app):
        assert_busy(client.post("/api/users", json=new_user, headers=admin))
        assert_busy(client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}))
        # In WAL mode a writer does not stop readers.
        assert client.get("/api/users", headers=admin).status_code == 200
    assert client.post("/api/users", json=new_user, headers=admin).status_code == 201
    assert client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 200


def test_a_read_locked_out_past_the_busy_timeout_is_503_database_busy_with_retry_after(configured):
    app, client, admin = configured(DB_BUSY_TIMEOUT_MS=200)
    media_id = finished_entry(app)
    with database_held(app, readers_too=True):
        assert_busy(client.get("/api/users", headers=admin))
        assert_busy(client.get(f"/api/media/{media_id}", headers=admin))
        assert_busy(client.get("/api/stats", headers=admin))
    assert client.get("/api/users", headers=admin).status_code == 200
    assert client.get(f"/api/media/{media_id}", headers=admin).json["status"] == "completed"


# --- a damaged database (14.18) ------------------------------------------------------------


def _start_and_expect_one_line(tmp_path) -> str:
    """Run ``python app.py`` on tmp_path's instance folder; it must exit at once, saying one line."""
    env = LiveServer(tmp_path).env
    finished = subprocess.run([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    assert finished.returncode != 0 and finished.stdout == ""
    (line,) = finished.stderr.strip().splitlines()  # one line, no traceback
    return line


@pytest.mark.e2e
def test_a_garbage_database_file_stops_start_up_with_one_line_naming_it(tmp_path):
    database = tmp_path / "instance" / "mediacache.db"
    database.parent.mkdir()
    database.write_bytes(bytes(range(256)) * 256)  # no SQLite header
    line = _start_and_expect_one_line(tmp_path)
    assert f"database {database} is damaged (file is not a database)" in line
    assert "restore it from a backup or move it aside to start fresh" in line


@pytest.mark.e2e
def test_damaged_pages_met_during_start_up_stop_it_with_one_line_naming_the_file(tmp_path):
    application = create_app(make_settings(tmp_path))
    application.extensions["mediacache.jobs"].shutdown()
    _fill_and_damage(application)
    line = _start_and_expect_one_line(tmp_path)
    database = tmp_path / "instance" / "mediacache.db"
    assert f"database {database} is damaged (database disk image is malformed)" in line
    assert "restore it from a backup or move it aside to start fresh" in line


def _fill_and_damage(app, rows: int = 3000) -> None:
    """Many entries on disk, then the middle half of the file overwritten, as a failing disk might."""
    from mediacache.db.models import Media

    with app.app_context():
        db.session.add_all(
            Media(url=f"https://music.example/{number}/" + "x" * 400, source_url="https://music.example/",
                  variant="mp3::", profile="mp3", ttl=3600, status="failed", requested_by="admin")
            for number in range(rows)
        )  # fmt: skip
        db.session.commit()
        db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))  # everything into the main file
        db.session.remove()
        db.engine.dispose()  # no page of it left in a connection's cache
    database = Path(app.config["INSTANCE_DIR"]) / "mediacache.db"
    size = database.stat().st_size
    with database.open("r+b") as handle:
        handle.seek(size // 4)
        handle.write(b"\xa5" * (size // 2))


def test_a_damaged_page_found_at_run_time_is_503_database_damaged_and_makes_health_unhealthy(client, admin, app):
    assert client.get("/api/health").json["checks"]["database"]["status"] == "healthy"
    _fill_and_damage(app)
    response = client.get("/api/stats", headers=admin)
    assert_envelope(response, 503, "DATABASE_DAMAGED")
    assert "backup" in response.json["error"]["message"]
    health = client.get("/api/health")
    assert health.status_code == 503 and health.json["status"] == "unhealthy"
    database = health.json["checks"]["database"]
    assert database["status"] == "unhealthy" and "damaged" in database["error"] and "backup" in database["error"]
    assert "mediacache.db" not in json.dumps(health.json)  # a public route names no path
