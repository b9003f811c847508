"""Schemas of media entries: queueing, reading, long-polling, listing and deleting them, their events, look-ups.

Inputs and answers of routes/media.py, routes/events.py and routes/ytdlp.py. ``MediaSchema``
documents the media object that media/render.py renders; ``QueueParamsSchema`` is every queue
call's parameters (one URL here, each item of a collection in collections.py).
"""

from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from ...core.errors import shown
from ...core.states import CacheState, Status
from .base import Bool, InputSchema, PageSchema, WholeNumber, parse_json

# What the media object's status shows (API.md too): a cancelled job is shown as failed (error.code CANCELLED).
MEDIA_STATUSES = tuple(str(status) for status in Status if status != Status.CANCELLED)
# The list filter also takes "cancelled", to pick those failed entries alone.
STATUS_FILTERS = (*MEDIA_STATUSES, str(Status.CANCELLED))
CACHE_STATES = tuple(str(state) for state in CacheState)
MEDIA_SORTS = ("created_at", "-created_at", "expires_at", "-expires_at", "hits", "-hits")
MAX_EXTRA_BYTES = 4096


class JsonObject(fields.Field):
    """A JSON object given as an object or as a string holding one, at most 4 KiB."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> dict:
        if isinstance(value, str):
            if (
                len(value.encode("utf-8", "surrogatepass")) > MAX_EXTRA_BYTES
            ):  # a lone surrogate: parse_json's to refuse
                raise ValidationError(f"must be at most {MAX_EXTRA_BYTES} bytes")
            try:
                value = parse_json(value)
            except ValueError:
                raise ValidationError('must be a JSON object, e.g. {"ckey": "player1"}') from None
        if not isinstance(value, dict):
            raise ValidationError('must be a JSON object, e.g. {"ckey": "player1"}')
        if len(json.dumps(value).encode()) > MAX_EXTRA_BYTES:
            raise ValidationError(f"must be at most {MAX_EXTRA_BYTES} bytes")
        return value


# What the OpenAPI document promises a URL parameter takes: an absolute http(s) URL, printable ASCII after a plain
# host name. The service accepts more (IDN hosts, any port); it refuses anything this does not cover with a 400.
URL_DOC = {
    "type": "string",
    "maxLength": 2048,
    "pattern": r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?([/?#][!-~]*)?$",
    "description": "An http(s) URL of a media page or file",
}


NORMALIZE_DOC = {
    "type": "string",
    "description": "Loudness normalization: true (to MEDIACACHE_LOUDNESS_TARGET, -16 LUFS by default), false, or a "
    "target in LUFS from -30 to -5 (e.g. -14); part of the variant",
    "example": "-14",
}
CLIP_DOC = {"type": "number", "minimum": 0, "maximum": 10**7}


class QueueParamsSchema(InputSchema):
    """The parameters of every call that queues entries (one URL, or each item of a collection), without the URL.

    ``media.queueing.queue_variant`` settles profile/bitrate/resolution/normalize/start/end from what this loads.
    """

    ttl = WholeNumber(load_default=None, metadata={"minimum": 1, "description": "Seconds, at most max_ttl (GET /api)"})
    profile = fields.String(load_default=None)
    bitrate = fields.Raw(load_default=None)
    resolution = fields.Raw(load_default=None)
    dont_clean_title = Bool(load_default=False)
    # Checked in core/edits.py (the same for every route that queues): here only documented.
    normalize = fields.Raw(load_default=None, metadata=NORMALIZE_DOC)
    start = fields.Raw(load_default=None, metadata=CLIP_DOC | {"description": "Clip: keep from this second on"})
    end = fields.Raw(load_default=None, metadata=CLIP_DOC | {"description": "Clip: keep up to this second"})
    extra = JsonObject(load_default=None)
    # A receiver POSTed to when the entry is completed or failed (schemas/webhooks.py documents it).
    callback_url = fields.Raw(
        load_default=None,
        metadata=URL_DOC
        | {"description": "An http(s) URL that gets one signed POST when the entry is completed or failed"},
    )
    aliases = {"dontcleantitle": "dont_clean_title"}
    error_codes = {"ttl": "INVALID_TTL", "extra": "INVALID_EXTRA", "callback_url": "INVALID_CALLBACK_URL"}


class QueueSchema(QueueParamsSchema):
    url = fields.Raw(required=True, metadata=URL_DOC | {"description": URL_DOC["description"] + (
        "; required, in the query string or the body")})  # fmt: skip
    error_codes = {"url": "INVALID_URL", **QueueParamsSchema.error_codes}


class HardDelete(fields.Field):
    """DELETE's ``hard``: a boolean, or the original service's ``file`` or ``entry``; loads as None, "file" or "entry".

    ``true`` and ``file`` remove the file at once and keep the row; ``entry`` removes the row too.
    """

    CHOICES = ("true", "false", "1", "0", "yes", "no", "file", "entry")

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str | None:
        text = str(value).strip().lower() if isinstance(value, str) else value
        if text in ("file", "entry"):
            return text
        try:
            return "file" if Bool()._deserialize(value, attr, data) else None
        except ValidationError:
            raise ValidationError(
                "expected true/false, file (remove the file, keep the entry) or entry (remove both), "
                f"got {shown(value)}"
            ) from None


class DeleteSchema(InputSchema):
    hard = HardDelete(load_default=None, metadata={"enum": list(HardDelete.CHOICES)})
    force = Bool(load_default=False)


class MediaWaitSchema(InputSchema):
    # Seconds to hold the answer until the entry is completed or failed (issue 18's long-poll); digits only (README).
    wait = WholeNumber(load_default=None, validate=validate.Range(min=0, max=30))


class EventsSchema(InputSchema):
    # Entry ids to narrow the stream to, comma-separated (about 100 at most: the length bounds them).
    ids = fields.String(load_default=None, validate=validate.Length(max=100 * 37))
    # Resume after this event id (the Last-Event-ID header says the same and wins).
    last_event_id = WholeNumber(load_default=None, validate=validate.Range(min=0, max=2**62))


class MediaFilterSchema(PageSchema):
    valid = Bool()
    status = fields.String(validate=validate.OneOf(STATUS_FILTERS))
    cache_state = fields.String(validate=validate.OneOf(CACHE_STATES))
    profile = fields.String()
    q = fields.String(validate=validate.Length(max=200))
    requested_by = fields.String()
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(MEDIA_SORTS))


class LookupSchema(InputSchema):
    url = fields.Raw(load_default=None, metadata=URL_DOC)
    raw = Bool(load_default=False)
    dont_clean_title = Bool(load_default=False)
    aliases = {"dontcleantitle": "dont_clean_title"}
    error_codes = {"url": "INVALID_URL"}


class LookupUrlSchema(LookupSchema):
    """``/api/ytdlp`` without an id in the path: the url is required (the document says so)."""

    url = fields.Raw(required=True, metadata=URL_DOC)


class Metadata(Schema):
    """What a look-up answers: the media's tags as the source gives them."""

    title = fields.String()
    artist = fields.String(allow_none=True)
    album = fields.String(allow_none=True)
    albumArtist = fields.List(fields.String())
    year = fields.Integer(allow_none=True)
    genre = fields.List(fields.String())
    duration = fields.Float(allow_none=True)
    url = fields.String(allow_none=True)


class MediaSchema(Schema):
    """The media object of API.md, for the OpenAPI document (media/render.py's render_media renders it)."""

    id = fields.String()
    url = fields.String()
    status = fields.String(metadata={"enum": list(MEDIA_STATUSES)})
    valid = fields.Boolean()
    cache_state = fields.String(metadata={"enum": list(CACHE_STATES)})
    path = fields.String(allow_none=True)
    endpoints = fields.List(fields.String())
    profile = fields.String()
    bitrate = fields.Integer(allow_none=True)
    resolution = fields.String(allow_none=True)
    normalize = fields.Float(allow_none=True, metadata={"description": "Loudness target in LUFS; null: not normalized"})
    start = fields.Float(allow_none=True, metadata={"description": "Clip start, seconds; null: from the beginning"})
    end = fields.Float(allow_none=True, metadata={"description": "Clip end, seconds; null: to the end"})
    extension = fields.String(allow_none=True)
    mime_type = fields.String(allow_none=True)
    size_bytes = fields.Integer(allow_none=True)
    length_ms = fields.Integer(allow_none=True)
    metadata = fields.Dict(allow_none=True, metadata={"description": (
        "title, artist, album, …; loudness: {integrated_lufs, true_peak_dbtp, range_lu, normalized?: "
        "{target, gain_db, limited}, true_peak_pending?: true} (EBU R128; null until measured, or for video "
        "not normalized; a plain encode's true peak is null and pending until its finished file is measured, "
        "a moment after completion)")})  # fmt: skip
    progress = fields.Dict(allow_none=True)
    error = fields.Dict(allow_none=True)
    ttl = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    deleted_at = fields.DateTime(allow_none=True)
    retained_until = fields.DateTime(allow_none=True)
    requested_by = fields.String(allow_none=True)
    hits = fields.Integer()
    last_accessed_at = fields.DateTime(allow_none=True)
