"""marshmallow schemas of the collections routes (issue 19): their inputs, and their answers for the document."""

from __future__ import annotations

from marshmallow import Schema, fields

from .base import Bool, InputSchema
from .media import MEDIA_STATUSES, QueueSchema


class CollectionCreateSchema(QueueSchema):
    """The queue's parameters, every one passed through to each item's queue call; the url names the playlist."""


class CollectionDeleteSchema(InputSchema):
    entries = Bool(
        load_default=False,
        metadata={"description": "Also soft-delete its entries that no other collection holds (and you may delete)"},
    )
    force = Bool(load_default=False, metadata={"description": "With entries=true: cancel entries still running"})


class CollectionTotals(Schema):
    completed = fields.Integer()
    failed = fields.Integer()
    pending = fields.Integer(metadata={"description": "Waiting or running"})
    total = fields.Integer()


class CollectionItem(Schema):
    position = fields.Integer(metadata={"description": "1-based, in the source's order"})
    url = fields.String()
    entry_id = fields.String(
        allow_none=True,
        metadata={"description": "The entry (GET /api/media/<id>); null if the item could not be queued (see error)"},
    )
    status = fields.String(metadata={"enum": list(MEDIA_STATUSES)})
    valid = fields.Boolean()
    title = fields.String(allow_none=True)
    artist = fields.String(allow_none=True)
    duration = fields.Float(allow_none=True)
    endpoints = fields.List(fields.String())
    error = fields.Dict(allow_none=True)


class CollectionSummary(Schema):
    id = fields.String()
    url = fields.String()
    title = fields.String(allow_none=True)
    uploader = fields.String(allow_none=True)
    requested_by = fields.String()
    created_at = fields.DateTime()
    options = fields.Dict(metadata={"description": "The queue parameters the items were queued with"})
    totals = fields.Nested(CollectionTotals)


class CollectionSchema(CollectionSummary):
    items = fields.List(fields.Nested(CollectionItem))


class SkippedEntry(Schema):
    id = fields.String()
    error = fields.Dict()


class CollectionDeleted(Schema):
    status = fields.String()
    id = fields.String()
    entries_deleted = fields.List(fields.String())
    entries_skipped = fields.List(fields.Nested(SkippedEntry))
