"""Runtime settings: values an admin may change without a restart, over the configured defaults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select

from ..config.parsers import non_negative, parse_choice, parse_int, positive, worker_count
from .extensions import db
from .models import Setting

# key → parser; the configuration name is the key upper-cased.
RUNTIME_SETTINGS: dict[str, Callable[[Any], Any]] = {
    "default_ttl": positive(parse_int),
    "max_ttl": positive(parse_int),
    "retention_days": non_negative(parse_int),
    "workers": worker_count(parse_int),
    "max_duration": non_negative(parse_int),
    "max_filesize": non_negative(parse_int),
    "registration": parse_choice("off", "approval", "open"),
}

_OVERRIDES = "mediacache.setting_overrides"


def _overrides() -> dict[str, Any]:
    """Stored overrides, read once per process and refreshed on every change."""
    cache = current_app.extensions.get(_OVERRIDES)
    if cache is None:
        rows = db.session.execute(select(Setting.key, Setting.value)).all()
        cache = {key: value for key, value in rows if key in RUNTIME_SETTINGS}
        current_app.extensions[_OVERRIDES] = cache
    return cache


def overrides_in_memory(app: Flask) -> dict[str, Any] | None:
    """The overrides as read into memory; a change replaces the object, so an answer built on them can tell."""
    return app.extensions.get(_OVERRIDES)


def get_setting(key: str) -> Any:
    """The value in force: an admin's override, else the configuration."""
    overrides = _overrides()
    return overrides[key] if key in overrides else current_app.config[key.upper()]


def all_settings() -> dict[str, Any]:
    """Every runtime setting with its value in force."""
    return {key: get_setting(key) for key in RUNTIME_SETTINGS}


def store_setting(key: str, value: Any) -> Any:
    """Validate and persist one override; raises KeyError/ValueError for the caller to map."""
    parsed = RUNTIME_SETTINGS[key](value)
    row = db.session.get(Setting, key) or Setting(key=key)
    row.value = parsed
    db.session.add(row)
    db.session.commit()
    current_app.extensions.pop(_OVERRIDES, None)
    return parsed
