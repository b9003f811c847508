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
from sqlalchemy import Engine, event, text

from .extensions import db

# Append only; never edit a released step. Example:
#   (2, ["ALTER TABLE media ADD COLUMN source_site VARCHAR(64)"]),
MIGRATIONS: list[tuple[int, list[str]]] = [
    (2, ["CREATE INDEX IF NOT EXISTS ix_media_created_id ON media (created_at, id)"]),
]
SCHEMA_VERSION = max((version for version, _ in MIGRATIONS), default=1)


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, _record) -> None:
    """WAL for concurrent readers, a busy timeout instead of 'database is locked', FK checks on."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


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
