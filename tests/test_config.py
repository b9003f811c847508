"""Configuration layering, secrets and the first-start admin."""

from __future__ import annotations

import logging
import stat

import pytest

from mediacache import create_app
from mediacache.config import ConfigError
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

    from mediacache.extensions import db

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

    from mediacache.database import SCHEMA_VERSION
    from mediacache.extensions import db

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
        assert db.session.execute(text("SELECT version FROM schema_version")).scalar() == SCHEMA_VERSION == 2
