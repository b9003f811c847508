"""SQLite set-up and schema creation/evolution.

Schema evolution: ``db.create_all()`` creates missing tables; changes to existing
tables are appended to ``MIGRATIONS`` as (version, SQL statements). On start every
migration newer than the stored version runs once, in order, and the version is
recorded in ``schema_version``. A fresh database is created at the latest version.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flask import Flask
from sqlalchemy import event, make_url, text

from .extensions import db

# Append only; never edit a released step. Example:
#   (2, ["ALTER TABLE media ADD COLUMN source_site VARCHAR(64)"]),
MIGRATIONS: list[tuple[int, list[str]]] = [
    (2, ["CREATE INDEX IF NOT EXISTS ix_media_created_id ON media (created_at, id)"]),
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
        from . import models  # noqa: F401 — the tables must be known before create_all

        db.create_all()
        _migrate()


def _migrate() -> None:
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
        current = connection.execute(text("SELECT version FROM schema_version")).scalar()
        if current is None:
            # A database created just now by create_all already has the newest shape.
            connection.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": SCHEMA_VERSION})
            return
        for version, statements in MIGRATIONS:
            if version > current:
                for statement in statements:
                    connection.execute(text(statement))
                connection.execute(text("UPDATE schema_version SET version = :v"), {"v": version})
