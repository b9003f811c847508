"""marshmallow schemas for every input and output of the API."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from ..core.errors import shown
from ..core.principal import ROLES
from ..core.states import CacheState, Status
from ..core.timeutil import isoformat

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,32}$"
MIN_PASSWORD = 8
# Long enough for any passphrase, short enough that hashing it is no DoS.
MAX_PASSWORD = 1024
# No parameter needs more nesting than this; far deeper input makes the JSON parser and the
# encoders recurse until Python gives up (a RecursionError, which was a 500).
MAX_JSON_DEPTH = 32


class Bool(fields.Field):
    """A boolean from JSON or text: true/false/1/0/yes/no in any case."""

    TRUE = {"true", "1", "yes"}
    FALSE = {"false", "0", "no"}

    def _deserialize(self, value: Any, attr, data, **kwargs) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValidationError(f"expected a boolean (true/false/1/0/yes/no), got {shown(value)}")


class WholeNumber(fields.Integer):
    """An integer from JSON or text that refuses a fraction (marshmallow's own would cut ``2.5`` to 2)."""

    def _validated(self, value):
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        # int() reads any script's digits ("١٢" is 12); a number here is written in ASCII.
        if isinstance(value, str) and not value.isascii():
            raise self.make_error("invalid")
        return super()._validated(value)


def parse_json(text: str | bytes) -> Any:
    """Parse client JSON; ``ValueError`` when it is malformed or nested deeper than ``MAX_JSON_DEPTH``."""

    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    # Walked with a stack, not recursively: the point is to refuse what recursion cannot handle.
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return value


class UtcDateTime(fields.Field):
    """A stored UTC time rendered ISO 8601 with a Z."""

    def _serialize(self, value, attr, obj, **kwargs):
        return isoformat(value)


class InputSchema(Schema):
    """Inputs ignore unknown parameters: clients send extras and must not break."""

    class Meta:
        unknown = EXCLUDE


class FullMatch(validate.Regexp):
    """validate.Regexp over the whole value: its ``match`` lets ``$`` pass a trailing newline (``admin\\n``).

    The pattern stays as written, so the OpenAPI document keeps it (``$`` is the end there).
    """

    def __call__(self, value):
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def username_field(**kwargs) -> fields.String:
    """A username as accounts are created with: 3–32 of [A-Za-z0-9_.-]."""
    error = "must be 3–32 characters of letters, digits, '_', '.' or '-'"
    return fields.String(validate=FullMatch(USERNAME_PATTERN, error=error), **kwargs)


def password_field(**kwargs) -> fields.String:
    """A new password: at least 8 characters."""
    error = f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"
    return fields.String(validate=validate.Length(min=MIN_PASSWORD, max=MAX_PASSWORD, error=error), **kwargs)


class LoginSchema(InputSchema):
    username = fields.String(required=True, validate=validate.Length(max=64))
    password = fields.String(required=True, validate=validate.Length(max=MAX_PASSWORD))


class TokenRequestSchema(InputSchema):
    username = fields.String(load_default=None)
    duration_hours = fields.Float(
        load_default=None,
        validate=validate.Range(min=0, min_inclusive=False),
        # The upper bound is a setting: the OpenAPI builder writes it in (x-maximum-setting).
        metadata={"exclusiveMinimum": True, "x-maximum-setting": "MAX_TOKEN_HOURS"},
    )
    error_codes = {"duration_hours": "INVALID_DURATION"}


class ChangePasswordSchema(InputSchema):
    current_password = fields.String(required=True)
    new_password = password_field(required=True)


class RegisterSchema(InputSchema):
    username = username_field(required=True)
    email = fields.Email(load_default=None)
    password = password_field(required=True)


def account_limit_field(description: str, **kwargs) -> WholeNumber:
    """A per-account limit an admin sets: a count, 0 for unlimited, null for the role's default."""
    return WholeNumber(
        allow_none=True, validate=validate.Range(min=0, max=1_000_000),
        metadata={"description": f"{description}; 0: unlimited; null: the default for the role"}, **kwargs,
    )  # fmt: skip


class AccountLimitsSchema(InputSchema):
    queue_per_minute = account_limit_field("Queue calls per minute")
    lookups_per_minute = account_limit_field("/api/ytdlp look-ups per minute")
    max_pending = account_limit_field("Jobs waiting or running at once")


class UserCreateSchema(RegisterSchema, AccountLimitsSchema):
    role = fields.String(load_default="user", validate=validate.OneOf(ROLES))


class UserUpdateSchema(AccountLimitsSchema):
    role = fields.String(validate=validate.OneOf(ROLES))
    password = password_field()
    email = fields.Email(allow_none=True)
    active = Bool()


class PageSchema(InputSchema):
    page = WholeNumber(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = WholeNumber(load_default=20, validate=validate.Range(min=1, max=1_000_000))


class UserFilterSchema(PageSchema):
    role = fields.String(validate=validate.OneOf(ROLES))
    active = Bool()
    q = fields.String(validate=validate.Length(max=100))


class UserSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    email = fields.String(allow_none=True)
    role = fields.String()
    active = fields.Boolean()
    created_at = UtcDateTime()
    last_login_at = UtcDateTime(allow_none=True)
    queue_per_minute = fields.Integer(allow_none=True)
    lookups_per_minute = fields.Integer(allow_none=True)
    max_pending = fields.Integer(allow_none=True)


class LoginUserSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    email = fields.String(allow_none=True)
    role = fields.String()


user_schema = UserSchema()
login_user_schema = LoginUserSchema()


# --- media ---------------------------------------------------------------------------

# What the media object's status shows: a cancelled job is shown as failed (error.code CANCELLED).
# What API.md shows: a cancelled job is reported as failed (error.code CANCELLED).
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
            if len(value.encode()) > MAX_EXTRA_BYTES:
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
    # A receiver POSTed to when the entry is completed or failed (web/webhook_schemas.py documents it).
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
    # Seconds to hold the answer until the entry is completed or failed (issue 18's long-poll).
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
        "{target, gain_db, limited}} (EBU R128; null until measured, or for video not normalized)")})  # fmt: skip
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


class IdsSchema(InputSchema):
    ids = fields.List(fields.String(validate=validate.Length(max=64)), required=True,
                      validate=validate.Length(min=1, max=1000))  # fmt: skip


class SettingValueSchema(InputSchema):
    value = fields.Raw(required=True, allow_none=True)
    error_codes = {"value": "INVALID_SETTING"}


class ActivityFilterSchema(PageSchema):
    action = fields.String()
    actor = fields.String()


class LogFilterSchema(PageSchema):
    since = fields.DateTime(load_default=None)
    until = fields.DateTime(load_default=None)
    user = fields.String(load_default=None)
    format = fields.String(load_default="text", validate=validate.OneOf(("text", "json")))
    media_id = fields.String(load_default=None, validate=validate.Length(max=64),
                             metadata={"description": "Only the lines of this entry"})  # fmt: skip
    error_codes = {"since": "VALIDATION_ERROR", "until": "VALIDATION_ERROR"}


MAX_STATS_DAYS = 366


class DailyStatsSchema(InputSchema):
    days = WholeNumber(load_default=30, validate=validate.Range(min=1, max=MAX_STATS_DAYS),
                       metadata={"description": "How many UTC days back, today included"})  # fmt: skip
