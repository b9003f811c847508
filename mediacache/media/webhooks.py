"""Completion webhooks: account secrets and default URLs, registrations per queue call, and the outbox rows.

A queue call's ``callback_url`` and the caller's default webhook (if set) are registered for the
entry. When the entry reaches a final state, every registration not yet served gets one outbox
row (``WebhookDelivery``), written by the same transaction as the final state (``media_repo.on_final``);
the sender (``jobs/webhook_sender.py``) POSTs it. A registration made while the entry is already
final is served at once. Every URL passes the network guard here and again when it is connected to.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from sqlalchemy import delete, select

from ..core.errors import DomainError, shown
from ..core.principal import Principal
from ..core.signing import new_secret
from ..core.states import FINAL_STATES, Status
from ..core.timeutil import isoformat, utcnow
from ..db import media_repo
from ..db.extensions import db
from ..db.models import Media
from ..db.pagination import paginate
from ..db.webhook_models import WebhookAccount, WebhookDelivery, WebhookRegistration, new_event_id
from ..jobs.webhook_sender import send_after_commit
from ..sources import netguard
from .render import render_media, snapshot

log = logging.getLogger(__name__)
MAX_CALLBACK_URL = 2048
# Finished deliveries, and registrations served, are kept this long for GET /api/webhooks/deliveries.
KEEP_DAYS = 30
EVENTS = {Status.COMPLETED: "media.completed", Status.FAILED: "media.failed", Status.CANCELLED: "media.failed"}


def init_app(app: Flask) -> None:
    """Write the outbox rows of an entry in the transaction that makes it final."""
    media_repo.on_final(app, write_deliveries)


def check_callback_url(raw: object) -> str:
    """An absolute http(s) URL whose host the network guard allows (400 otherwise); returned trimmed."""
    url = raw.strip() if isinstance(raw, str) else ""
    if not url:
        raise DomainError("INVALID_CALLBACK_URL", "Pass the receiver as callback_url=https://…")
    if len(url) > MAX_CALLBACK_URL or not url.isascii() or re.search(r"[\x00-\x20\x7f]", url):
        raise DomainError("INVALID_CALLBACK_URL", f"{shown(url)} is not a URL of at most {MAX_CALLBACK_URL} "
                          "ASCII characters without spaces.")  # fmt: skip
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an unclosed "[", a bad IPv6 address, a port out of range
        parts, port = urlsplit(""), -1
    # After a bracketed IPv6 host only ":port" may follow; urlsplit would ignore anything else.
    bracketed = re.fullmatch(r"(?:[^@]*@)?\[[^\]]*\](?::\d*)?", parts.netloc) if "[" in parts.netloc else True
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or port in (-1, 0) or not bracketed:
        raise DomainError("INVALID_CALLBACK_URL", f"{shown(url)} is not an http:// or https:// URL with a host.")
    if parts.username is not None or parts.password is not None:
        raise DomainError("INVALID_CALLBACK_URL", "A callback URL may not carry a user name or password; "
                          "check the X-Mediacache-Signature header instead.")  # fmt: skip
    policy = netguard.AddressPolicy.from_config(current_app.config)
    try:
        policy.resolve(parts.hostname, port)
    except netguard.AddressRefused:
        host = parts.hostname.rstrip(".")
        reason = policy.refused[-1].replace(host, shown(host))  # the reason names the host: cut it short
        raise DomainError(
            "CALLBACK_URL_NOT_ALLOWED",
            f"This callback URL is not allowed: {reason}. mediacache calls back public http(s) addresses only.",
        ) from None
    return url


def _account(user_id: int) -> WebhookAccount:
    """The account's webhook settings, made with a new (not yet shown) secret on first need."""
    account = db.session.get(WebhookAccount, user_id)
    if account is None:
        account = WebhookAccount(user_id=user_id, secret=new_secret(), secret_shown=False)
        db.session.add(account)
    return account


def webhook_view(account: WebhookAccount | None, *, show_secret: bool = False) -> dict[str, Any]:
    """The default webhook as the API shows it; the secret only when it is being shown for the first time."""
    return {
        "url": account.url if account else None,
        "secret": account.secret if account and show_secret else None,
        "secret_set": account is not None,
        "created_at": isoformat(account.created_at) if account else None,
        "updated_at": isoformat(account.updated_at) if account else None,
    }


def get_default(user: Principal) -> dict[str, Any]:
    """The caller's default webhook (never the secret)."""
    return webhook_view(db.session.get(WebhookAccount, user.id))


def set_default(user: Principal, url: str) -> dict[str, Any]:
    """Set the caller's default webhook; the answer carries the signing secret if it was never shown."""
    account = _account(user.id)
    account.url = url
    account.updated_at = utcnow()
    show = not account.secret_shown
    account.secret_shown = True
    db.session.commit()
    return webhook_view(account, show_secret=show)


def remove_default(user: Principal) -> None:
    """Remove the default webhook; what it registered and has not fired yet is dropped (sent deliveries stay)."""
    account = db.session.get(WebhookAccount, user.id)
    if account is not None:
        account.url = None
        account.updated_at = utcnow()
    db.session.execute(delete(WebhookRegistration).where(
        WebhookRegistration.user_id == user.id, WebhookRegistration.source == "default",
        WebhookRegistration.done_at.is_(None)))  # fmt: skip
    db.session.commit()


def rotate_secret(user: Principal) -> dict[str, Any]:
    """A new signing secret for the caller, shown in this answer only; tries from now on are signed with it."""
    account = _account(user.id)
    account.secret = new_secret()
    account.secret_shown = True
    account.updated_at = utcnow()
    db.session.commit()
    return webhook_view(account, show_secret=True)


def register(user: Principal, media_id: str, callback_url: str | None, roots: tuple[str, ...]) -> None:
    """Register the queue call's callback and the caller's default webhook for the entry's next final state.

    An entry already final (a cached file, say) is served at once. The registration is written
    before the entry's state is read, in one transaction: a job finishing meanwhile either sees
    the registration or is seen as final here, so none falls between.
    """
    account = db.session.get(WebhookAccount, user.id)
    wanted = [(url, source) for url, source in ((callback_url, "call"), (account and account.url, "default")) if url]
    if not wanted:
        return
    db.session.commit()  # a fresh transaction: its first write takes the database's write lock
    _account(user.id)  # a callback_url is signed with the account's secret: make one if it has none
    waiting = set(db.session.scalars(select(WebhookRegistration.url).where(
        WebhookRegistration.media_id == media_id, WebhookRegistration.user_id == user.id,
        WebhookRegistration.done_at.is_(None))))  # fmt: skip
    for url, source in wanted:
        if url not in waiting:
            waiting.add(url)
            db.session.add(WebhookRegistration(media_id=media_id, user_id=user.id, url=url, source=source,
                                               roots=list(roots)))  # fmt: skip
    db.session.flush()
    status = db.session.scalar(select(Media.status).where(Media.id == media_id))
    if status in FINAL_STATES:
        write_deliveries(media_id, status)
    db.session.commit()


def write_deliveries(media_id: str, status: str) -> None:
    """One outbox row per registration still waiting for this entry; called inside the final state's transaction."""
    registrations = db.session.scalars(select(WebhookRegistration).where(
        WebhookRegistration.media_id == media_id, WebhookRegistration.done_at.is_(None))).all()  # fmt: skip
    if not registrations:
        return
    media = db.session.get(Media, media_id, populate_existing=True)  # as this transaction just wrote it
    if media is None:
        return
    row = snapshot(media)
    try:
        entries = [render_media(row, tuple(registration.roots or ())) for registration in registrations]
    except Exception:
        # A bug here must not keep the entry from its final state (the job would fail, or never end).
        log.exception("webhooks of entry %s could not be written", media_id)
        return
    now = utcnow()
    event_ids = []
    for registration, entry in zip(registrations, entries, strict=True):
        event_ids.append(new_event_id())
        db.session.add(WebhookDelivery(
            id=event_ids[-1], user_id=registration.user_id, media_id=media_id, url=registration.url,
            event=EVENTS[Status(status)], entry=entry, next_attempt_at=now, created_at=now,
        ))  # fmt: skip
        registration.done_at = now
    send_after_commit(current_app, event_ids)


def purge_old_deliveries() -> int:
    """Forget deliveries that ended (delivered or failed) and registrations served more than KEEP_DAYS ago."""
    cutoff = utcnow() - timedelta(days=KEEP_DAYS)
    removed = db.session.execute(delete(WebhookDelivery).where(
        WebhookDelivery.state != "pending", WebhookDelivery.created_at < cutoff)).rowcount  # fmt: skip
    db.session.execute(delete(WebhookRegistration).where(WebhookRegistration.done_at < cutoff))
    db.session.commit()
    return removed


def list_deliveries(user: Principal, args: dict[str, Any]) -> dict[str, Any]:
    """The caller's deliveries (an admin's: everyone's, or one account's with ``user_id``), newest first."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
    if not user.is_admin:
        query = query.where(WebhookDelivery.user_id == user.id)
    elif args.get("user_id") is not None:
        query = query.where(WebhookDelivery.user_id == args["user_id"])
    for name in ("state", "event", "media_id"):
        if args.get(name) is not None:
            query = query.where(getattr(WebhookDelivery, name) == args[name])
    return paginate(query, args["page"], args["limit"], delivery_view)


def delivery_view(delivery: WebhookDelivery) -> dict[str, Any]:
    """One delivery as the API shows it."""
    return {
        "id": delivery.id,
        "event": delivery.event,
        "media_id": delivery.media_id,
        "user_id": delivery.user_id,
        "url": delivery.url,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "max_attempts": current_app.config["WEBHOOK_ATTEMPTS"],
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "next_attempt_at": isoformat(delivery.next_attempt_at),
        "created_at": isoformat(delivery.created_at),
        "delivered_at": isoformat(delivery.delivered_at),
    }
