"""Request parameters: query string, JSON body and form body, merged into one mapping."""

from __future__ import annotations

import re
from typing import Any

from flask import g, request
from marshmallow import Schema, ValidationError

from ..core.errors import DomainError
from ..media.render import public_roots, render_media
from .schemas.base import MAX_JSON_DEPTH, parse_json

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_case(name: str) -> str:
    """``durationHours`` → ``duration_hours``; snake_case names pass unchanged."""
    return _CAMEL_BOUNDARY.sub(r"_\1", name).lower()


def _json_body() -> dict[str, Any]:
    """The JSON body as an object; ``null`` or nothing counts as no body."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = parse_json(raw)
    except ValueError:  # UnicodeDecodeError included
        raise DomainError(
            "INVALID_JSON",
            "The request body is not valid JSON (or is nested deeper than "
            f"{MAX_JSON_DEPTH} levels, or holds a lone surrogate such as \\ud800, which is no text); "
            "send a JSON object or use a form or query string.",
        ) from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise DomainError("INVALID_JSON", "The JSON body must be an object of named parameters.")
    return body


def request_params() -> dict[str, Any]:
    """All parameters of this request, snake_cased; the query string wins on a clash."""
    if "params" in g:
        return g.params
    merged: dict[str, Any] = {}
    if request.is_json:
        merged.update(_json_body())
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        merged.update(request.form.to_dict())
    merged.update(request.args.to_dict())
    g.params = {snake_case(key): value for key, value in merged.items()}
    return g.params


def load(schema: Schema, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate parameters with ``schema``; a failure becomes a 400 with a specific code."""
    data = request_params() if params is None else params
    data = {getattr(schema, "aliases", {}).get(key, key): value for key, value in data.items()}
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise _validation_error(schema, exc) from None


def _validation_error(schema: Schema, exc: ValidationError) -> DomainError:
    """Name the first bad field in the message and map it to its code."""
    messages = exc.normalized_messages()
    field = next(iter(messages), "_schema")
    problem = messages.get(field)
    while isinstance(problem, (list, dict)):
        problem = next(iter(problem.values() if isinstance(problem, dict) else problem), "")
    code = getattr(schema, "error_codes", {}).get(field, "VALIDATION_ERROR")
    text = str(problem) if field == "_schema" else f"{field}: {problem}"
    return DomainError(code, text, details={"fields": messages})


def request_roots() -> tuple[str, ...]:
    """Where this request's caller reaches files (``render.public_roots`` of the host it asked under)."""
    return public_roots(request.environ)


def render_for_request(row) -> dict[str, Any]:
    """``render_media`` with this request's roots, for views and the listings they hand it to."""
    return render_media(row, request_roots())
