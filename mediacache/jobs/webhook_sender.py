"""The webhook outbox's sender: one dispatcher thread hands due deliveries to a few sender threads.

Deliveries are rows (``db.webhook_models.WebhookDelivery``) written in the same transaction as
the final state they report, so a crash loses none: a row stays ``pending`` until a try came
back 2xx, and the next start sends it again (with the same event id). The commit that writes a
row hands it to a sender thread at once (``send_after_commit``); the dispatcher sleeps until the
next retry is due. A failed try is tried again after WEBHOOK_RETRY_BASE_DELAY seconds, then twice as
long each time, WEBHOOK_ATTEMPTS tries in all; then the delivery is ``failed``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, current_app
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from ..core.signing import signature_header
from ..core.timeutil import isoformat, utcnow
from ..db.extensions import db
from ..db.webhook_models import WebhookAccount, WebhookDelivery
from ..sources.netguard import AddressPolicy
from ..sources.webhook_http import PostResult, post_json

log = logging.getLogger(__name__)

EXTENSION_KEY = "mediacache.webhooks"
_WAKE_AFTER_COMMIT = "mediacache.webhook_wake"
# The dispatcher looks at the table at least this often, whatever it expects (a row another process wrote).
IDLE_LOOK = 60.0
PENDING = "pending"


class WebhookSender:
    """Sends the outbox's due deliveries; threads start with the first wake (or ``start``), never in CLI commands."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._cond = threading.Condition()
        self._woken = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: dict[str, Callable[[], None]] = {}  # event id → ends its try at once
        app.extensions[EXTENSION_KEY] = self

    def start(self) -> None:
        """Start the dispatcher (once); it sends what is due at once, e.g. what a crash left pending."""
        with self._cond:
            if self._thread is not None or self._stopping:
                return
            self._pool = ThreadPoolExecutor(self.app.config["WEBHOOK_SENDERS"], thread_name_prefix="webhook-send")
            self._thread = threading.Thread(target=self._run, name="webhook-outbox", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Look for due deliveries now."""
        self.start()
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def send_now(self, event_ids: list[str]) -> None:
        """Send these just-committed deliveries at once, without waiting for the dispatcher to find them."""
        self.start()
        with self._cond:
            if self._stopping or self._pool is None:
                return
            fresh = [event_id for event_id in event_ids if self._claim(event_id)]
        for event_id in fresh:
            self._pool.submit(self._send, event_id)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop promptly: tries under way are cut off and stay pending (the next start sends them)."""
        with self._cond:
            self._stopping = True
            cuts = list(self._in_flight.values())
            self._cond.notify_all()
        for cut in cuts:
            cut()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                self._woken = False
            try:
                with self.app.app_context():
                    wait = self._dispatch_due()
                    db.session.remove()
            except Exception:
                log.exception("webhook outbox: could not read due deliveries")
                wait = 5.0
            with self._cond:
                if not self._woken and not self._stopping:
                    self._cond.wait(min(IDLE_LOOK, wait) if wait is not None else IDLE_LOOK)

    def _dispatch_due(self) -> float | None:
        """Hand due deliveries to the senders; seconds until the next one is due (None: none waits)."""
        with self._cond:
            busy = set(self._in_flight)
        room = 2 * self.app.config["WEBHOOK_SENDERS"] - len(busy)
        now = utcnow()
        pending = select(WebhookDelivery.id).where(WebhookDelivery.state == PENDING)
        if busy:
            pending = pending.where(WebhookDelivery.id.not_in(busy))
        due = db.session.scalars(
            pending.where(WebhookDelivery.next_attempt_at <= now).order_by(WebhookDelivery.next_attempt_at).limit(room)
        ).all() if room > 0 else []  # fmt: skip
        for event_id in due:
            with self._cond:
                if self._stopping:
                    return None
                # Checked again here: a commit's send_now may have taken it since ``busy`` was read.
                if not self._claim(event_id):
                    continue
            self._pool.submit(self._send, event_id)
        if due:
            return 0.0 if len(due) == room else None  # a full batch: more may be due
        upcoming = db.session.scalar(select(func.min(WebhookDelivery.next_attempt_at)).where(
            WebhookDelivery.state == PENDING, WebhookDelivery.next_attempt_at > now))  # fmt: skip
        return max(0.0, (upcoming - now).total_seconds()) if upcoming is not None else None

    def _claim(self, event_id: str) -> bool:
        """Mark a delivery as being tried (with ``_cond`` held); False if a try of it is under way already."""
        if event_id in self._in_flight:
            return False
        self._in_flight[event_id] = _nothing
        return True

    def _send(self, event_id: str) -> None:
        try:
            with self.app.app_context():
                self._try(event_id)
                db.session.remove()
        except Exception:
            log.exception("webhook %s: the try failed unexpectedly", event_id)
        finally:
            with self._cond:
                self._in_flight.pop(event_id, None)
                self._woken = True  # its next try (or the next row) may be due sooner than the dispatcher thinks
                self._cond.notify_all()

    def _try(self, event_id: str) -> None:
        delivery = db.session.get(WebhookDelivery, event_id)
        if delivery is None or delivery.state != PENDING:
            return
        account = db.session.get(WebhookAccount, delivery.user_id) if delivery.user_id is not None else None
        url, event_name = delivery.url, delivery.event
        if account is None:
            _record(event_id, PostResult(None, "the account that registered it no longer exists"), final=True)
            return
        body = json.dumps(
            {"event": event_name, "id": event_id, "delivered_at": isoformat(utcnow()), "entry": delivery.entry},
            separators=(",", ":"),
        ).encode()
        headers = {
            "X-Mediacache-Event-Id": event_id,
            "X-Mediacache-Event": event_name,
            "X-Mediacache-Signature": signature_header(account.secret, int(time.time()), body),
        }
        db.session.rollback()  # no read held open across the network
        config = current_app.config
        result = post_json(url, body, headers, AddressPolicy.from_config(config), config["WEBHOOK_TIMEOUT"],
                           on_start=lambda cut: self._cut_with(event_id, cut))  # fmt: skip
        with self._cond:
            if self._stopping and not result.delivered:
                return  # cut off by the stop: not a failed try; the next start sends it again
        _record(event_id, result)

    def _cut_with(self, event_id: str, cut: Callable[[], None]) -> None:
        with self._cond:
            self._in_flight[event_id] = cut
            stopping = self._stopping
        if stopping:
            cut()


def _nothing() -> None:
    """A try not started yet has nothing to cut."""


def _record(event_id: str, result: PostResult, *, final: bool = False) -> None:
    """Write how a try went: delivered, failed for good, or due again after the backoff."""
    config = current_app.config
    now = utcnow()
    delivery = db.session.get(WebhookDelivery, event_id)
    if delivery is None:
        return
    attempts = delivery.attempts + 1
    values: dict = {
        "attempts": attempts,
        "last_status": result.status,
        "last_error": result.error and result.error[:512],
    }
    host = urlsplit(delivery.url).hostname  # never the whole URL: its path or query may carry a receiver's token
    if result.delivered:
        values |= {"state": "delivered", "delivered_at": now, "next_attempt_at": None}
    elif final or attempts >= config["WEBHOOK_ATTEMPTS"]:
        values |= {"state": "failed", "next_attempt_at": None}
        log.warning("webhook %s to %s failed for good after %d tries: %s", event_id, host, attempts, result.error)
    else:
        delay = retry_delay(attempts, config["WEBHOOK_RETRY_BASE_DELAY"])
        values["next_attempt_at"] = now + timedelta(seconds=delay)
        log.info("webhook %s to %s: %s; try %d in %.1f s", event_id, host, result.error, attempts + 1, delay)
    db.session.execute(update(WebhookDelivery).where(
        WebhookDelivery.id == event_id, WebhookDelivery.state == PENDING).values(**values))  # fmt: skip
    db.session.commit()


def retry_delay(attempts: int, base: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones: base, then twice as long each time."""
    return base * 2 ** (attempts - 1)


def send_after_commit(app: Flask, event_ids: list[str]) -> None:
    """Have the sender send these deliveries as soon as the current transaction, which writes them, commits."""
    _, waiting = db.session.info.setdefault(_WAKE_AFTER_COMMIT, (get_sender(app), []))
    waiting.extend(event_ids)


@event.listens_for(Session, "after_commit")
def _wake_sender(session: Session) -> None:
    woken = session.info.pop(_WAKE_AFTER_COMMIT, None)
    if woken is not None:
        sender, event_ids = woken
        sender.send_now(event_ids)


@event.listens_for(Session, "after_rollback")
def _nothing_to_send_after_rollback(session: Session) -> None:
    session.info.pop(_WAKE_AFTER_COMMIT, None)


def get_sender(app: Flask | None = None) -> WebhookSender:
    """The app's webhook sender."""
    return (app or current_app).extensions[EXTENSION_KEY]
