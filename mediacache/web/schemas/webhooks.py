"""marshmallow schemas of the webhook routes and of the POST a receiver gets (issue 18)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from .base import InputSchema, PageSchema, WholeNumber
from .media import URL_DOC, MediaSchema

DELIVERY_STATES = ("pending", "delivered", "failed")
EVENTS = ("media.completed", "media.failed")
CALLBACK_URL_DOC = URL_DOC | {
    "description": "An http(s) URL that receives one signed POST when the entry is completed or failed "
    "(README: Webhooks); it must pass the same network guard as downloads",
}


def callback_url_field(**kwargs) -> fields.Raw:
    """A receiver's URL (checked by media.webhooks.check_callback_url)."""
    return fields.Raw(metadata=CALLBACK_URL_DOC, **kwargs)


class WebhookUrlSchema(InputSchema):
    url = callback_url_field(required=True)
    error_codes = {"url": "INVALID_CALLBACK_URL"}


class WebhookSchema(Schema):
    """The caller's webhook settings; ``secret`` is shown once (when set or rotated), else null."""

    url = fields.String(allow_none=True)
    secret = fields.String(allow_none=True, metadata={"description": "Shown once; keep it to verify signatures"})
    secret_set = fields.Boolean()
    created_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime(allow_none=True)


class DeliveryFilterSchema(PageSchema):
    state = fields.String(validate=validate.OneOf(DELIVERY_STATES))
    event = fields.String(validate=validate.OneOf(EVENTS))
    media_id = fields.String(validate=validate.Length(max=36))
    user_id = WholeNumber(validate=validate.Range(min=1, max=2**62), metadata={"description": "Admins only"})


class DeliverySchema(Schema):
    id = fields.String(metadata={"description": "The event id, sent as X-Mediacache-Event-Id on every try"})
    event = fields.String(metadata={"enum": list(EVENTS)})
    media_id = fields.String()
    user_id = fields.Integer(allow_none=True)
    url = fields.String()
    state = fields.String(metadata={"enum": list(DELIVERY_STATES)})
    attempts = fields.Integer()
    max_attempts = fields.Integer()
    last_status = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)


class WebhookPayloadSchema(Schema):
    """What a receiver gets: POST, JSON, signed with X-Mediacache-Signature."""

    event = fields.String(metadata={"enum": list(EVENTS)})
    id = fields.String(metadata={"description": "The event id (also X-Mediacache-Event-Id); drop repeats of it"})
    delivered_at = fields.DateTime()
    entry = fields.Nested(MediaSchema, metadata={"description": "The entry as GET /api/media/<id> rendered it"})


WEBHOOK_HEADERS = [
    {"in": "header", "name": "X-Mediacache-Event-Id", "required": True, "schema": {"type": "string"}},
    {"in": "header", "name": "X-Mediacache-Event", "required": True,
     "schema": {"type": "string", "enum": list(EVENTS)}},
    {"in": "header", "name": "X-Mediacache-Signature", "required": True, "schema": {"type": "string"},
     "description": 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the account\'s secret>'},
]  # fmt: skip
# The queue route's OpenAPI callback: the POST every registered URL receives.
QUEUE_CALLBACKS = {
    "mediaFinished": {
        "{$request.body#/callback_url}": {
            "post": {
                "summary": "The entry reached a final state (also sent to the account's default webhook)",
                "parameters": WEBHOOK_HEADERS,
                "requestBody": {"required": True, "content": {"application/json": {"schema": WebhookPayloadSchema}}},
                "responses": {"2XX": {"description": "Received; never sent again (any other answer is retried)"}},
            }
        }
    }
}
