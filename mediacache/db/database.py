"""SQLite set-up and schema creation/evolution.

Schema evolution: ``db.create_all()`` creates missing tables; changes to existing
tables are appended to ``MIGRATIONS`` as (version, SQL statements, or a function of the
connection for what SQL alone cannot say). On start every migration newer than the
stored version runs once, in order, each in one transaction with the update of
``schema_version`` that records it. A fresh database is created at the latest version.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from sqlalchemy import Connection, event, inspect, make_url, text

from . import models, webhook_models  # noqa: F401 — the tables must be known before create_all
from .collection_tables import create_collection_tables
from .extensions import db

log = logging.getLogger(__name__)

# The users table as of version 3, written out: a released step must not follow later model changes.
_USERS_V3 = """CREATE TABLE users_v3 (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    username VARCHAR(32) NOT NULL,
    email VARCHAR(254),
    password_hash VARCHAR(255) NOT NULL,
    role VARCHAR(16) NOT NULL,
    active BOOLEAN NOT NULL,
    pending BOOLEAN NOT NULL,
    token_version INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    last_login_at DATETIME,
    token_key VARCHAR(32) NOT NULL,
    UNIQUE (username)
)"""
_USERS_V3_COLUMNS = (
    "id, username, email, password_hash, role, active, pending, token_version, created_at, last_login_at, token_key"
)


def _accounts_never_share_an_identity(connection: Connection) -> None:
    """Version 3: a random token key for every account, and (SQLite) ids that are never handed out again."""
    # Each part is skipped when already there: a database marked older than its shape still starts.
    if "token_key" not in {column["name"] for column in inspect(connection).get_columns("users")}:
        connection.execute(text("ALTER TABLE users ADD COLUMN token_key VARCHAR(32)"))
    for (user_id,) in connection.execute(text("SELECT id FROM users WHERE token_key IS NULL")).all():
        connection.execute(
            text("UPDATE users SET token_key = :key WHERE id = :id"), {"key": secrets.token_hex(16), "id": user_id}
        )
    if connection.dialect.name != "sqlite":
        return  # a server database's sequence never hands an id out twice
    shape = connection.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'")).scalar()
    if "AUTOINCREMENT" in shape.upper():
        return
    # AUTOINCREMENT cannot be added to a table: SQLite's documented rebuild, with foreign
    # keys off (see _migrate) so dropping the old table leaves request_log's user ids alone.
    connection.execute(text(_USERS_V3))
    connection.execute(text(f"INSERT INTO users_v3 ({_USERS_V3_COLUMNS}) SELECT {_USERS_V3_COLUMNS} FROM users"))
    connection.execute(text("DROP TABLE users"))
    connection.execute(text("ALTER TABLE users_v3 RENAME TO users"))


def _accounts_carry_their_own_limits(connection: Connection) -> None:
    """Version 4: per-account limits an admin sets (NULL: the role's default)."""
    present = {column["name"] for column in inspect(connection).get_columns("users")}
    for column in ("queue_per_minute", "lookups_per_minute", "max_pending"):
        if column not in present:
            connection.execute(text(f"ALTER TABLE users ADD COLUMN {column} INTEGER"))


def _retries_outlive_restarts(connection: Connection) -> None:
    """Version 5: a transient failure is retried; the attempt count and the next attempt's time outlive a restart."""
    # Each column is skipped when already there: a database marked older than its shape still starts.
    present = {column["name"] for column in inspect(connection).get_columns("media")}
    if "attempts" not in present:
        connection.execute(text("ALTER TABLE media ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0"))
    if "retry_at" not in present:
        connection.execute(text("ALTER TABLE media ADD COLUMN retry_at DATETIME"))


def _variants_carry_edits(connection: Connection) -> None:
    """Version 6: a variant may be normalized (a loudness target) or clipped (start/end), kept beside its key."""
    # Each column is skipped when already there: a database marked older than its shape still starts.
    present = {column["name"] for column in inspect(connection).get_columns("media")}
    for column, kind in (("normalize_lufs", "FLOAT"), ("clip_start_ms", "INTEGER"), ("clip_end_ms", "INTEGER")):
        if column not in present:
            connection.execute(text(f"ALTER TABLE media ADD COLUMN {column} {kind}"))


def _usernames_unique_whatever_their_case(connection: Connection) -> None:
    """Version 11: the index behind "Alice" and "alice" being one name (models.py)."""
    clashes = connection.execute(
        text("SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1")
    ).scalars().all()  # fmt: skip
    if clashes:
        # Older versions could let two such accounts in through a race; the service starts all the
        # same (its own check still refuses new ones), and an admin can delete one of them.
        log.warning("usernames differing only in case, so no unique index on them yet: %s", ", ".join(clashes))
        return
    connection.execute(text("CREATE UNIQUE INDEX IF NOT EXISTS ux_users_username_folded ON users (lower(username))"))


# Version 8, written out as released (completion webhooks, issue 18): create_all makes them for any database,
# and the step keeps a database whose version says 8 from lacking them. IF NOT EXISTS: what is there is skipped.
_WEBHOOK_TABLES_V8 = [
    """CREATE TABLE IF NOT EXISTS webhook_accounts (
        user_id INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        secret VARCHAR(80) NOT NULL,
        secret_shown BOOLEAN NOT NULL,
        url VARCHAR(2048),
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS webhook_registrations (
        id INTEGER NOT NULL PRIMARY KEY,
        media_id VARCHAR(36) NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        url VARCHAR(2048) NOT NULL,
        source VARCHAR(8) NOT NULL,
        roots JSON NOT NULL,
        created_at DATETIME NOT NULL,
        done_at DATETIME
    )""",
    "CREATE INDEX IF NOT EXISTS ix_webhook_registrations_user_id ON webhook_registrations (user_id)",
    "CREATE INDEX IF NOT EXISTS ix_webhook_registrations_media_done ON webhook_registrations (media_id, done_at)",
    """CREATE TABLE IF NOT EXISTS webhook_deliveries (
        id VARCHAR(40) NOT NULL PRIMARY KEY,
        user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
        media_id VARCHAR(36) NOT NULL,
        url VARCHAR(2048) NOT NULL,
        event VARCHAR(32) NOT NULL,
        entry JSON NOT NULL,
        state VARCHAR(16) NOT NULL,
        attempts INTEGER NOT NULL,
        last_status INTEGER,
        last_error VARCHAR(512),
        next_attempt_at DATETIME,
        created_at DATETIME NOT NULL,
        delivered_at DATETIME
    )""",
    "CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_user_created ON webhook_deliveries (user_id, created_at)",
    "CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_media_id ON webhook_deliveries (media_id)",
]


# Append only; never edit a released step. Example:
#   (2, ["ALTER TABLE media ADD COLUMN source_site VARCHAR(64)"]),
MIGRATIONS: list[tuple[int, list[str] | Callable[[Connection], None]]] = [
    (2, ["CREATE INDEX IF NOT EXISTS ix_media_created_id ON media (created_at, id)"]),
    (3, _accounts_never_share_an_identity),
    (4, _accounts_carry_their_own_limits),
    (5, _retries_outlive_restarts),
    (6, _variants_carry_edits),
    (7, create_collection_tables),
    (8, _WEBHOOK_TABLES_V8),
    (10, ["CREATE TABLE IF NOT EXISTS daily_served (day DATE NOT NULL PRIMARY KEY, hits INTEGER NOT NULL)"]),
    (11, _usernames_unique_whatever_their_case),
]
SCHEMA_VERSION = max((version for version, _ in MIGRATIONS), default=1)


def _sqlite_setup(busy_timeout_ms: int):
    """The connect hook: WAL for concurrent readers, a busy timeout instead of 'database is locked', FK checks on."""

    def configure(dbapi_connection, _record) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        cursor = dbapi_connection.cursor()
        # First: the other statements may already have to wait for a lock, and wait this long.
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return configure


# SQLite's primary result codes (the low byte of the extended code Python reports).
_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_DAMAGED_CODES = {11, 26}  # SQLITE_CORRUPT ("database disk image is malformed"), SQLITE_NOTADB
_BUSY_TEXTS = ("database is locked", "database table is locked", "database is busy")
_DAMAGED_TEXTS = ("database disk image is malformed", "file is not a database")
DAMAGED_KEY = "mediacache.database_damaged"


def database_problem(exc: BaseException) -> str | None:
    """``"busy"`` (another connection holds a lock past the busy timeout), ``"damaged"`` (the file is corrupt), or None.

    Takes a SQLAlchemy error or the driver's own; for drivers other than sqlite3 it goes by the message.
    """
    error = getattr(exc, "orig", None) or exc
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        primary = code & 0xFF
        return "busy" if primary in _BUSY_CODES else "damaged" if primary in _DAMAGED_CODES else None
    message = str(error).lower()
    if any(phrase in message for phrase in _BUSY_TEXTS):
        return "busy"
    if any(phrase in message for phrase in _DAMAGED_TEXTS):
        return "damaged"
    return None


def database_path(config: dict) -> str:
    """Where the database lives, for messages: the SQLite file, else the URL without its password."""
    url = make_url(database_uri(config))
    return url.database if url.get_backend_name() == "sqlite" else url.render_as_string(hide_password=True)


def damaged_since(app: Flask) -> str | None:
    """What SQLite said when a query first met a damaged page since start, or None."""
    return app.extensions.get(DAMAGED_KEY)


def _watch_for_damage(app: Flask):
    """An engine hook that remembers a damaged page found by any query: a request's, a job's or a sweep's.

    It only remembers (for /api/health); whoever meets the error says so in the log.
    """

    def handle_error(context) -> None:
        if DAMAGED_KEY not in app.extensions and database_problem(context.original_exception) == "damaged":
            app.extensions[DAMAGED_KEY] = str(context.original_exception)

    return handle_error


def database_uri(config: dict) -> str:
    """The configured URL, else a SQLite file in the instance folder."""
    return config["DATABASE_URL"] or f"sqlite:///{Path(config['INSTANCE_DIR']) / 'mediacache.db'}"


def init_database(app: Flask) -> None:
    """Bind the database, create the tables and run pending migrations."""
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri(app.config)
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A server database can drop idle connections; a SQLite file cannot, so no ping per checkout.
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    db.init_app(app)
    with app.app_context():
        event.listen(db.engine, "connect", _sqlite_setup(app.config["DB_BUSY_TIMEOUT_MS"]))
        event.listen(db.engine, "handle_error", _watch_for_damage(app))
        db.create_all()
        _migrate()


def _migrate() -> None:
    with db.engine.connect() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
        current = connection.execute(text("SELECT version FROM schema_version")).scalar()
        if current is None:
            # A database created just now by create_all already has the newest shape.
            connection.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": SCHEMA_VERSION})
            connection.commit()
            return
        pending = [(version, step) for version, step in MIGRATIONS if version > current]
        connection.commit()
        if not pending:
            return
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Outside any transaction, or SQLite ignores it: a table rebuilt by a step must
            # not set other tables' references to NULL when its old copy is dropped.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            for version, step in pending:
                # The version first: pysqlite opens its transaction at the first data change,
                # so the step's DDL joins it and a step is applied whole or not at all. No row
                # changed: another process starting at the same time has applied it already.
                claimed = connection.execute(
                    text("UPDATE schema_version SET version = :v WHERE version < :v"), {"v": version}
                )
                if claimed.rowcount == 0:
                    connection.rollback()
                    continue
                if callable(step):
                    step(connection)
                else:
                    for statement in step:
                        connection.execute(text(statement))
                connection.commit()
        finally:
            if sqlite:
                connection.rollback()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
