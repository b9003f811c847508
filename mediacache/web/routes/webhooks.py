"""Completion webhooks: the caller's default webhook and signing secret, and the deliveries list (issue 18)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ...media import webhooks
from ..access import login_required, me
from ..openapi import documented
from ..params import load
from ..schemas.base import page_of
from ..schemas.webhooks import DeliveryFilterSchema, DeliverySchema, WebhookSchema, WebhookUrlSchema

bp = Blueprint("webhooks", __name__, url_prefix="/api")


@bp.get("/users/me/webhook")
@login_required
@documented("The caller's default webhook (its secret is never shown here)", response=WebhookSchema)
def get_webhook():
    """The caller's default webhook URL, and whether a signing secret exists."""
    return jsonify(webhooks.get_default(me()))


@bp.put("/users/me/webhook")
@login_required
@documented(
    "Set the caller's default webhook: every later queue call of this account registers it; the answer "
    "carries the signing secret the first time it is shown (else null)",
    params=WebhookUrlSchema, response=WebhookSchema, errors=("INVALID_CALLBACK_URL", "CALLBACK_URL_NOT_ALLOWED"),
)  # fmt: skip
def put_webhook():
    """Set the caller's default webhook URL; the signing secret is in the answer if it was never shown."""
    url = webhooks.check_callback_url(load(WebhookUrlSchema())["url"])
    return jsonify(webhooks.set_default(me(), url))


@bp.delete("/users/me/webhook")
@login_required
@documented("Remove the caller's default webhook (the secret stays for callback_url deliveries)", status=204)
def delete_webhook():
    """Remove the default webhook; registrations it made that have not fired are dropped."""
    webhooks.remove_default(me())
    return "", 204


@bp.post("/users/me/webhook/secret")
@login_required
@documented("A new signing secret, shown in this answer only; later tries are signed with it", response=WebhookSchema)
def rotate_webhook_secret():
    """Replace the caller's signing secret and show the new one once."""
    return jsonify(webhooks.rotate_secret(me()))


@bp.get("/webhooks/deliveries")
@login_required
@documented(
    "Webhook deliveries: state, attempts, last error, next try (the caller's own; an admin's: all, or user_id's)",
    params=DeliveryFilterSchema, response=page_of(DeliverySchema), errors=("VALIDATION_ERROR",),
)  # fmt: skip
def list_deliveries():
    """The caller's webhook deliveries, newest first (an admin sees everyone's)."""
    return jsonify(webhooks.list_deliveries(me(), load(DeliveryFilterSchema())))
