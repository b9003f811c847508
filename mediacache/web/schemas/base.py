"""What every area's schemas build on: field types that read JSON and text alike, and the shared envelopes.

A parameter arrives as JSON, a form field or a query string, so the field types here take a
value in any of those spellings (``Bool``, ``WholeNumber``). The envelopes are the shapes
every list and every error answer share: ``PageSchema`` in, ``page_of`` and ``ErrorEnvelope`` out.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from ...core.errors import shown
from ...core.timeutil import isoformat
from ..errors import ERROR_STATUSES

# No parameter needs more nesting than this; far deeper input makes the JSON parser and the
# encoders recurse until Python gives up (a RecursionError, which was a 500).
MAX_JSON_DEPTH = 32
# How a whole number is written in a query string or a JSON string (re.ASCII: \d is 0-9 alone).
ASCII_INTEGER = re.compile(r"-?\d+", re.ASCII)
ASCII_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)


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
    """An integer from JSON, or from text written as ASCII digits (an optional minus before them).

    marshmallow's own would cut ``2.5`` to 2, and int() reads much a client did not mean as a
    number: any script's digits (``١٢`` is 12), a plus sign, spaces around and underscores
    between (``+3``, `` 3``, ``3_0``). A number here is what README says: digits, nothing else.
    """

    def _validated(self, value):
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        if isinstance(value, str) and not ASCII_INTEGER.fullmatch(value):
            raise self.make_error("invalid")
        return super()._validated(value)


class DecimalNumber(fields.Float):
    """A number from JSON, or from text written as ASCII digits with an optional fraction (``1``, ``0.5``).

    float() also reads signs, spaces, underscores, any script's digits, exponents, ``inf`` and ``nan``.
    """

    def _validated(self, value):
        if isinstance(value, str) and not ASCII_DECIMAL.fullmatch(value):
            raise self.make_error("invalid")
        return super()._validated(value)


def parse_json(text: str | bytes) -> Any:
    """Parse client JSON; ``ValueError`` when it is malformed, nested deeper than ``MAX_JSON_DEPTH``, or holds
    a string that is not Unicode text (JSON lets ``"\\ud800"`` through; nothing can store or print it)."""

    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    # Walked with a stack, not recursively: the point is to refuse what recursion cannot handle.
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return value


def _check_text(text: str) -> None:
    """``ValueError`` (UnicodeEncodeError is one) for a lone surrogate, which UTF-8 cannot hold."""
    if not text.isascii():
        text.encode("utf-8")


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


class PageSchema(InputSchema):
    page = WholeNumber(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = WholeNumber(load_default=20, validate=validate.Range(min=1, max=1_000_000))


class Pagination(Schema):
    page = fields.Integer()
    limit = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()
    has_next = fields.Boolean()
    has_prev = fields.Boolean()


@cache
def page_of(schema: type[Schema]) -> type[Schema]:
    """The list envelope around ``schema``."""
    return Schema.from_dict(
        {"items": fields.List(fields.Nested(schema)), "pagination": fields.Nested(Pagination)},
        name=f"{schema.__name__.removesuffix('Schema')}Page",
    )


class ErrorDetail(Schema):
    code = fields.String(required=True, metadata={"enum": sorted(ERROR_STATUSES)})
    message = fields.String(required=True)
    details = fields.Dict(required=True)


class ErrorEnvelope(Schema):
    """Every error answer (web/errors.py's ``error_body``)."""

    error = fields.Nested(ErrorDetail, required=True)
    request_id = fields.String(allow_none=True)
