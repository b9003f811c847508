"""mediacache: a self-hosted media cache service."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask

from .accounts.authcache import AuthCache
from .accounts.users import ensure_admin
from .cli import register_cli
from .config.loading import instance_dir_from, load_config, load_or_create_secret
from .db.database import init_database
from .db.extensions import db, limiter
from .db.settings import get_setting
from .jobs.background import BackgroundLane
from .jobs.fairshare import FairShare
from .jobs.runner import JobRunner
from .jobs.webhook_sender import WebhookSender
from .media import webhooks as media_webhooks
from .media.capacity import cache_gauges
from .media.events import Notifier
from .media.hits import AccessCounter
from .media.pipeline import others_waiting, process_entry
from .media.render import RowCache
from .ops.metrics import Metrics
from .patches import flask_limiter as flask_limiter_patch
from .sources.site_status import source_gauges
from .version import __version__
from .web import dashboard
from .web.bearer import register_token_callbacks
from .web.cors import Cors
from .web.errors import register_error_handlers as register_error_handlers_of_web
from .web.fastpath import Shortcuts, shortcut
from .web.middleware import RequestCycle
from .web.routes import admin, auth, collections, events, files, media, service, system, users, webhooks, ytdlp
from .web.security import disable_cookie_sessions, trust_proxies

__all__ = ["__version__", "create_app"]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: configuration, then each concern registers itself."""
    instance_dir = instance_dir_from(test_config)
    app = Flask(__name__, instance_path=instance_dir, instance_relative_config=True)
    register_config(app, test_config)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def register_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Layer the configuration, create the folders, settle the secret key."""
    instance_config = Flask.config_class(app.instance_path)
    instance_config.from_pyfile("config.py", silent=True)
    config = load_config(dict(instance_config), test_config)
    for folder in ("INSTANCE_DIR", "STATIC_CACHE", "PRIVATE_CACHE"):
        Path(config[folder]).mkdir(parents=True, exist_ok=True)
    config["SECRET_KEY"] = config["SECRET_KEY"] or load_or_create_secret(config["INSTANCE_DIR"])
    app.config.update(config)
    app.config["MAX_CONTENT_LENGTH"] = config["MAX_BODY_BYTES"]
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False
    if test_config:
        app.config.update({k: v for k, v in test_config.items() if k not in config})


def register_extensions(app: Flask) -> None:
    """Database, tokens, rate limits, request ids, CORS, jobs, metrics, first-start admin."""
    disable_cookie_sessions(app)
    init_database(app)
    register_token_callbacks(app)
    register_limiter(app)
    runner = JobRunner(app, work=process_entry)
    FairShare(app, workers=lambda: runner.size, others_waiting=others_waiting)
    WebhookSender(app)
    BackgroundLane(app)
    media_webhooks.init_app(app)
    AuthCache(app)
    RowCache(app)
    Notifier(app)
    AccessCounter(app)
    Metrics(app, gauges=[*runner.gauges(), *cache_gauges(app), *source_gauges(app)])
    Shortcuts(app, [
        shortcut(media.POLL_RULE, partial(media.poll_response, app), from_memory=True),
        shortcut(files.RULE, partial(files.file_response, app)),
        *(shortcut(rule, partial(system.service_info_response, app), from_memory=True)
          for rule in system.SERVICE_RULES),
    ])  # fmt: skip
    Cors(app)
    RequestCycle(app)
    trust_proxies(app)
    with app.app_context():
        ensure_admin()
        runner.size = get_setting("workers")  # an admin's runtime override outlives restarts
        db.session.remove()


def register_limiter(app: Flask) -> None:
    """Rate limits: every limit is a decorator on its route (see patches/flask_limiter.py for the hooks)."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    limiter.init_app(app)
    if flask_limiter_patch.PATCH.applies():
        flask_limiter_patch.hooks_only_where_limited(app, limiter)


def register_blueprints(app: Flask) -> None:
    """Every route of API.md, and the dashboard's pages."""
    for module in (auth, users, media, events, collections, ytdlp, files, system, service, admin, webhooks, dashboard):
        app.register_blueprint(module.bp)


def register_error_handlers(app: Flask) -> None:
    """The error envelope for every failure."""
    register_error_handlers_of_web(app)


def register_commands(app: Flask) -> None:
    """``flask --app app …`` commands."""
    register_cli(app)
