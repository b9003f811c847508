"""Command-line administration: ``flask --app app <command>``."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import select

from .accounts.users import _commit_unique, _insert_user, find_user_by_name, hash_password
from .core.errors import DomainError
from .core.principal import ROLES
from .core.states import RETAINED_STATES
from .db.extensions import db
from .db.models import Media
from .media import entries, lifecycle
from .media.lifecycle import run_sweep
from .ops.reporting import conversion_stats
from .sources.failures import ytdlp_age_days


def register_cli(app: Flask) -> None:
    """Attach the commands to the app."""

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--role", type=click.Choice(ROLES), default="user")
    @click.option("--email", default=None)
    @click.password_option()
    def create_user(username: str, role: str, email: str | None, password: str) -> None:
        """Create an active account."""

        _insert_user(username, password, email, role)
        _commit_unique(username)
        click.echo(f"created {role} {username}")

    @app.cli.command("set-password")
    @click.argument("username")
    @click.password_option()
    def set_password(username: str, password: str) -> None:
        """Set a user's password; their existing tokens stop working."""

        user = find_user_by_name(username)
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        user.password_hash = hash_password(password)
        user.token_version += 1
        db.session.commit()
        # A running server sees this within a few seconds (its account cache is short-lived).
        click.echo(f"password set for {username}; their tokens stop working within seconds")

    @app.cli.command("sweep")
    def sweep() -> None:
        """Expire due entries and purge files past retention now."""

        click.echo(json.dumps(run_sweep()))

    @app.cli.command("purge")
    @click.option("--all-retained", is_flag=True, help="Purge every retained file, not only those past retention.")
    @click.option("--id", "media_ids", multiple=True, help="Hard-delete this entry's files (repeatable).")
    def purge(all_retained: bool, media_ids: tuple[str, ...]) -> None:
        """Purge retained files past their retention (or all of them, or given entries)."""

        if media_ids:
            for media_id in media_ids:
                try:
                    entries.hard_delete(media_id)
                except DomainError as exc:
                    raise click.ClickException(exc.message) from None
            click.echo(json.dumps({"purged": list(media_ids)}))
            return
        if all_retained:
            ids = db.session.scalars(select(Media.id).where(Media.cache_state.in_(RETAINED_STATES))).all()
            click.echo(json.dumps({"purged": sum(lifecycle.purge_entry_files(media_id) for media_id in ids)}))
            return
        click.echo(json.dumps({"purged": lifecycle.purge_retained_files()}))

    @app.cli.command("stats")
    def stats() -> None:
        """Print conversion and cache statistics as JSON."""

        click.echo(json.dumps(conversion_stats(), indent=2))

    @app.cli.command("backup")
    @click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
    def backup(destination: Path) -> None:
        """Copy the live SQLite database safely with SQLite's backup API (never a plain file copy)."""
        uri = current_app.config["SQLALCHEMY_DATABASE_URI"]
        if not uri.startswith("sqlite:///"):
            raise click.ClickException("backup handles SQLite; use your database's own tools (e.g. pg_dump)")
        source = sqlite3.connect(uri.removeprefix("sqlite:///"))
        target = sqlite3.connect(destination)
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
        click.echo(f"backed up to {destination}")

    @app.cli.command("update-ytdlp")
    @click.option("--dry-run", is_flag=True, help="Print the pip command instead of running it.")
    def update_ytdlp(dry_run: bool) -> None:
        """Upgrade yt-dlp (with its default extras) and yt-dlp-ejs in this venv; restart afterwards."""
        # This interpreter's pip: the venv the service runs from, whatever is first on PATH.
        command = [sys.executable, "-m", "pip", "install", "--upgrade", "yt-dlp[default]", "yt-dlp-ejs"]
        click.echo(f"yt-dlp is {ytdlp_age_days()} days old; running: {' '.join(command)}")
        if dry_run:
            return
        if subprocess.run(command).returncode != 0:
            raise click.ClickException("pip could not upgrade yt-dlp; see its output above")
        click.echo(
            "yt-dlp upgraded. Restart mediacache so the new version is used (and update the yt-dlp pins "
            "in requirements.txt, or the next 'make' installs the old one again)."
        )
