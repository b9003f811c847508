"""The rows behind completion webhooks (issue 18): account secrets, who registered which URL, the outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..core.timeutil import utcnow
from .extensions import db


class WebhookAccount(db.Model):
    """An account's signing secret and, if it set one, its default webhook URL."""

    __tablename__ = "webhook_accounts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(80))
    # False until the account has been shown the secret (a secret made for a callback_url is shown by the next PUT).
    secret_shown: Mapped[bool] = mapped_column(default=False)
    url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookRegistration(db.Model):
    """One URL waiting for one entry's next final state, registered by one account's queue call."""

    __tablename__ = "webhook_registrations"
    __table_args__ = (Index("ix_webhook_registrations_media_done", "media_id", "done_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    source: Mapped[str] = mapped_column(String(8))  # "call" (callback_url) or "default" (the account's webhook)
    # Where the queuing client reaches files (render.public_roots): the entry is rendered as it would see it.
    roots: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]  # its delivery was written to the outbox


def new_event_id() -> str:
    """A delivery's event id: the same on every try, so a receiver can drop repeats."""
    return f"evt_{uuid.uuid4().hex}"


class WebhookDelivery(db.Model):
    """The outbox: one POST owed to one URL, written in the same transaction as the final state it reports."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_user_created", "user_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=new_event_id)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    media_id: Mapped[str] = mapped_column(String(36), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    event: Mapped[str] = mapped_column(String(32))
    # The entry as GET /api/media/<id> rendered it when it reached its final state: every try sends the same.
    entry: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(default=0)
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(512))
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
