"""Configuration layering, secrets and the first-start admin."""

from __future__ import annotations

import logging
import stat

import pytest

from mediacache import create_app
from mediacache.config.loading import ConfigError
from tests.helpers import login, make_settings


def test_secret_key_is_generated_once_with_mode_0600_and_reused(tmp_path):
    settings = make_settings(tmp_path)
    first = create_app(settings).config["SECRET_KEY"]
    secret_file = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert create_app(settings).config["SECRET_KEY"] == first


def test_two_instances_never_share_a_generated_secret(tmp_path):
    one = create_app(make_settings(tmp_path / "one")).config["SECRET_KEY"]
    two = create_app(make_settings(tmp_path / "two")).config["SECRET_KEY"]
    assert one != two


def test_short_secret_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIACACHE_SECRET_KEY", "too-short")
    with pytest.raises(ConfigError, match="MEDIACACHE_SECRET_KEY"):
        create_app(make_settings(tmp_path))


@pytest.mark.parametrize(
    "name, value",
    [
        ("PORT", "eighty"),
        ("METRICS_PUBLIC", "maybe"),
        ("REGISTRATION", "sometimes"),
        ("DEFAULT_TTL", "-5"),
        ("PUBLIC_URL", "ftp://example.org"),
    ],
)
def test_bad_environment_value_stops_startup_naming_the_variable(tmp_path, monkeypatch, name, value):
    monkeypatch.setenv(f"MEDIACACHE_{name}", value)
    with pytest.raises(ConfigError, match=f"MEDIACACHE_{name}"):
        create_app(make_settings(tmp_path))


def test_layers_instance_file_then_environment_then_test_mapping(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text("DEFAULT_TTL = 111\nWORKERS = 5\nRETENTION_DAYS = 7\n")
    monkeypatch.setenv("MEDIACACHE_WORKERS", "6")
    monkeypatch.setenv("MEDIACACHE_RETENTION_DAYS", "8")
    config = create_app(make_settings(tmp_path, RETENTION_DAYS=9)).config
    assert (config["DEFAULT_TTL"], config["WORKERS"], config["RETENTION_DAYS"]) == (111, 6, 9)


def test_folders_come_from_configuration(tmp_path):
    app = create_app(make_settings(tmp_path))
    assert (tmp_path / "instance" / "mediacache.db").exists()
    assert app.config["STATIC_CACHE"] == str(tmp_path / "static_cache")
    assert (tmp_path / "private_cache").is_dir()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_busy_timeout(app):
    from sqlalchemy import text

    from mediacache.db.extensions import db

    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() >= 1000


def test_generated_admin_password_is_logged_once_and_works(tmp_path, caplog):
    settings = make_settings(tmp_path)
    del settings["ADMIN_PASSWORD"]
    with caplog.at_level(logging.INFO):
        client = create_app(settings).test_client()
    lines = [r.getMessage() for r in caplog.records if "generated password" in r.getMessage()]
    assert len(lines) == 1
    password = lines[0].split("generated password: ")[1].split()[0]
    login(client, "admin", password)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        create_app(settings)
    assert not [r for r in caplog.records if "password" in r.getMessage().lower() and password in r.getMessage()]


def test_configured_admin_password_is_never_logged(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG):
        app = create_app(make_settings(tmp_path, ADMIN_USERNAME="boss"))
    assert "admin-test-password" not in caplog.text
    assert app.config["SECRET_KEY"] not in caplog.text
    login(app.test_client(), "boss", "admin-test-password")


def test_pending_migrations_run_once_on_start(tmp_path):
    """A database from before migration 2 gains its index and the new version on the next start."""
    from sqlalchemy import text

    from mediacache.db.database import SCHEMA_VERSION
    from mediacache.db.extensions import db

    settings = make_settings(tmp_path)
    app = create_app(settings)
    with app.app_context():
        db.session.execute(text("DROP INDEX ix_media_created_id"))
        db.session.execute(text("UPDATE schema_version SET version = 1"))
        db.session.commit()
    restarted = create_app(settings)
    with restarted.app_context():
        indexes = {row[1] for row in db.session.execute(text("PRAGMA index_list('media')"))}
        assert "ix_media_created_id" in indexes
        assert db.session.execute(text("SELECT version FROM schema_version")).scalar() == SCHEMA_VERSION


def test_a_database_from_before_version_3_gains_account_keys_and_ids_never_reused(tmp_path):
    """Existing accounts get a token key, and a deleted account's id is not given out again."""
    import sqlite3

    from werkzeug.security import generate_password_hash

    database = tmp_path / "instance" / "mediacache.db"
    database.parent.mkdir(parents=True)
    with sqlite3.connect(database) as old:  # the version 2 shape of the tables that change or point at users
        old.executescript("""
            CREATE TABLE users (id INTEGER NOT NULL, username VARCHAR(32) NOT NULL, email VARCHAR(254),
                password_hash VARCHAR(255) NOT NULL, role VARCHAR(16) NOT NULL, active BOOLEAN NOT NULL,
                pending BOOLEAN NOT NULL, token_version INTEGER NOT NULL, created_at DATETIME NOT NULL,
                last_login_at DATETIME, PRIMARY KEY (id), UNIQUE (username));
            CREATE TABLE request_log (id INTEGER NOT NULL, created_at DATETIME NOT NULL, user_id INTEGER,
                username VARCHAR(32), media_id VARCHAR(36), url VARCHAR(2048) NOT NULL, profile VARCHAR(16),
                status_code INTEGER NOT NULL, outcome VARCHAR(32) NOT NULL, extra JSON, PRIMARY KEY (id),
                FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE SET NULL);
            CREATE TABLE schema_version (version INTEGER NOT NULL);
            INSERT INTO schema_version VALUES (2);
        """)
        for user_id, name, role in ((1, "admin", "admin"), (2, "second", "user")):
            old.execute(
                "INSERT INTO users VALUES (?, ?, NULL, ?, ?, 1, 0, 0, '2026-01-01 00:00:00', NULL)",
                (user_id, name, generate_password_hash("second-pass-1", "pbkdf2:sha256:1000"), role),
            )
        old.execute("INSERT INTO request_log VALUES (1, '2026-01-01 00:00:00', 2, 'second', NULL, 'https://a/', "
                    "'mp3', 201, 'queued', NULL)")  # fmt: skip

    app = create_app(make_settings(tmp_path))
    client = app.test_client()
    token = login(client, "second", "second-pass-1")["token"]  # a migrated account logs in, its token works
    assert client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"}).json["id"] == 2
    app.extensions["mediacache.jobs"].shutdown()
    with sqlite3.connect(database) as migrated:
        keys = migrated.execute("SELECT token_key FROM users ORDER BY id").fetchall()
        assert len({key for (key,) in keys}) == 2 and all(key and len(key) == 32 for (key,) in keys)
        assert migrated.execute("SELECT user_id FROM request_log").fetchone() == (2,)  # the rebuild kept the link
        # Every later step ran too (version 5 added the retry columns).
        assert migrated.execute("SELECT version FROM schema_version").fetchone()[0] >= 3
        migrated.execute("DELETE FROM users WHERE id = 2")
        migrated.execute(
            "INSERT INTO users (username, password_hash, role, active, pending, token_version, created_at, token_key)"
            " VALUES ('newadmin', 'x', 'admin', 1, 0, 0, '2026-01-02 00:00:00', 'k')"
        )
        assert migrated.execute("SELECT id FROM users WHERE username = 'newadmin'").fetchone() == (3,)
