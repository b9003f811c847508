"""Command-line administration: ``flask --app app <command>``."""

from __future__ import annotations

import click
from flask import Flask

from .extensions import db


def register_cli(app: Flask) -> None:
    """Attach the commands to the app."""

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--role", type=click.Choice(["user", "admin"]), default="user")
    @click.option("--email", default=None)
    @click.password_option()
    def create_user(username: str, role: str, email: str | None, password: str) -> None:
        """Create an active account."""
        from .accounts import _commit_unique, _insert_user

        _insert_user(username, password, email, role)
        _commit_unique(username)
        click.echo(f"created {role} {username}")

    @app.cli.command("set-password")
    @click.argument("username")
    @click.password_option()
    def set_password(username: str, password: str) -> None:
        """Set a user's password; their existing tokens stop working."""
        from .accounts import find_user_by_name, hash_password

        user = find_user_by_name(username)
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        user.password_hash = hash_password(password)
        user.token_version += 1
        db.session.commit()
        click.echo(f"password set for {username}")
