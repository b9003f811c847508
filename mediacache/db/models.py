"""Typed SQLAlchemy models: every row the service keeps."""

from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..core.principal import ROLE_ADMIN, ROLE_USER
from ..core.timeutil import utcnow
from .extensions import db


def new_token_key() -> str:
    """A random identity for a new account (see User.token_key)."""
    return secrets.token_hex(16)


class User(db.Model):
    __tablename__ = "users"
    # Without AUTOINCREMENT SQLite gives the highest deleted id to the next account.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=ROLE_USER)
    active: Mapped[bool] = mapped_column(default=True)
    # Registered under "approval" and never activated: login says "pending", not "disabled".
    pending: Mapped[bool] = mapped_column(default=False)
    # Bumped on password change: every token carries the version it was issued
    # under, so all older tokens die at once without listing them.
    token_version: Mapped[int] = mapped_column(default=0)
    # Random and never reused, unlike an id (a restored backup or another database may
    # hand an id out again): every token carries it, so a deleted account's tokens can
    # never pass as those of a later account with the same id.
    token_key: Mapped[str] = mapped_column(String(32), default=new_token_key)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Per-account limits (ACCOUNT_LIMITS): queue calls and look-ups per minute, jobs waiting or running at once.
    queue_per_minute: Mapped[int | None]
    lookups_per_minute: Mapped[int | None]
    max_pending: Mapped[int | None]

    @property
    def is_admin(self) -> bool:
        """Whether this account may use the admin routes."""
        return self.role == ROLE_ADMIN


# Usernames are unique whatever their case ("Alice" and "alice" are one name), in the database
# itself: the check in accounts/users.py answers with a clear 409, this index settles a race.
# Usernames are ASCII (USERNAME_PATTERN), so SQLite's ASCII-only lower() folds them fully.
Index("ux_users_username_folded", db.func.lower(User.username), unique=True)


class RevokedToken(db.Model):
    """A token logged out before it expired; purged once it would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Activity(db.Model):
    """Audit log: logins, user changes, deletions, settings changes."""

    __tablename__ = "activity"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Setting(db.Model):
    """A runtime override of a configuration default."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Media(db.Model):
    """One cache entry per (normalized url, variant): its job state and its file."""

    __tablename__ = "media"
    __table_args__ = (
        # The guarantee behind "one entry per (url, profile, bitrate, resolution)":
        # two racing queue calls cannot both insert.
        UniqueConstraint("url", "variant", name="uq_media_url_variant"),
        # Expiry sweeps scan live rows by expiry time only.
        Index("ix_media_state_expires", "cache_state", "expires_at"),
        Index("ix_media_state_retained", "cache_state", "retained_until"),
        # Listings page by creation time; with the id it covers "ORDER BY created_at, id" and its OFFSET.
        Index("ix_media_created_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    url: Mapped[str] = mapped_column(String(2048))
    source_url: Mapped[str] = mapped_column(String(2048))
    # "<profile>:<bitrate>:<resolution>" with empty parts for "not applicable";
    # NULLs would not collide in a unique index.
    variant: Mapped[str] = mapped_column(String(64))
    profile: Mapped[str] = mapped_column(String(16))
    bitrate: Mapped[int | None]
    resolution: Mapped[str | None] = mapped_column(String(8))
    dont_clean_title: Mapped[bool] = mapped_column(default=False)
    # The variant's edits (core/edits.py; also in ``variant``, the key): loudness target in LUFS, clip in ms.
    normalize_lufs: Mapped[float | None]
    clip_start_ms: Mapped[int | None]
    clip_end_ms: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    cache_state: Mapped[str] = mapped_column(String(16), default="none")
    file_name: Mapped[str | None] = mapped_column(String(255))
    extension: Mapped[str | None] = mapped_column(String(8))
    mime_type: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None]
    length_ms: Mapped[int | None]
    media_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(1024))
    # How the file was made: "remux" (stream copied) or "encode".
    transcode_mode: Mapped[str | None] = mapped_column(String(8))
    ttl: Mapped[int]
    requested_by: Mapped[str | None] = mapped_column(String(32), index=True)
    hits: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    retained_until: Mapped[datetime | None]
    last_accessed_at: Mapped[datetime | None]
    # Failed attempts of the current job (a transient failure is retried), and when the next one is due.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    retry_at: Mapped[datetime | None]


class RequestLog(db.Model):
    """Every queue call, with the caller's ``extra`` notes."""

    __tablename__ = "request_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    username: Mapped[str | None] = mapped_column(String(32))
    media_id: Mapped[str | None] = mapped_column(String(36))
    url: Mapped[str] = mapped_column(String(2048))
    profile: Mapped[str | None] = mapped_column(String(16))
    status_code: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(32))
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class DailyServed(db.Model):
    """File hits per UTC day, for the dashboard's served-per-day chart (media rows keep only their total)."""

    __tablename__ = "daily_served"

    day: Mapped[date] = mapped_column(primary_key=True)
    hits: Mapped[int] = mapped_column(default=0)


class Collection(db.Model):
    """A playlist, album or feed queued in one call: its items are ordinary entries (collection_items)."""

    __tablename__ = "collections"
    # A caller's listing pages by creation time.
    __table_args__ = (Index("ix_collections_user_created", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    # Owned by the account id (never reused), not the name: a later account of the same name sees nothing.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    requested_by: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    title: Mapped[str | None] = mapped_column(String(512))
    uploader: Mapped[str | None] = mapped_column(String(256))
    # The queue parameters every item was queued with (profile, bitrate, ttl, …), as given.
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CollectionItem(db.Model):
    """One item of a collection, in the source's order, and the entry it became (none if it could not be queued)."""

    __tablename__ = "collection_items"
    __table_args__ = (UniqueConstraint("collection_id", "position", name="uq_collection_items_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    position: Mapped[int]
    url: Mapped[str] = mapped_column(String(2048))
    title: Mapped[str | None] = mapped_column(String(512))
    artist: Mapped[str | None] = mapped_column(String(256))
    duration: Mapped[float | None]
    # Indexed: deleting asks whether another collection holds an entry. A removed entry (hard=entry) leaves NULL.
    media_id: Mapped[str | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"), index=True)
    # Why the item has no entry: the queue call's refusal (URL_NOT_ALLOWED, STORAGE_FULL, …).
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(1024))
