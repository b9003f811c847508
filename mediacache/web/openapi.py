"""The OpenAPI 3 document, built from the URL map and the marshmallow schemas the views validate with.

Views carry their documentation with ``@documented(...)``; the builder walks every rule
of the app's URL map, so a route cannot exist without appearing in the document. The schemas
themselves, answers included, live with their area in web/schemas/; here is how they are
put together (parameters, bodies, the error answers each route may give) and the page that
shows the document to people.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema, fields

from ..version import __version__
from .errors import status_for
from .schemas.base import Bool, ErrorEnvelope, UtcDateTime, WholeNumber
from .schemas.media import HardDelete, JsonObject

AUTH_ERRORS = ("UNAUTHORIZED", "TOKEN_EXPIRED", "TOKEN_REVOKED")
# What any route that reads or writes the database may answer (every route with a token or parameters does).
DATABASE_ERRORS = ("DATABASE_BUSY", "DATABASE_DAMAGED")
STRUCTURED = ("application/json", "text/event-stream")  # content types whose success answer has a schema


@dataclass
class RouteDoc:
    """What the document says about one view."""

    summary: str
    params: type[Schema] | Schema | None = None
    response: Any = None  # a schema, a list of one schema, or None for free-form JSON
    status: int = 200
    errors: tuple[str, ...] = ()
    auth: str = "user"  # none | user | admin | refresh
    content_type: str | tuple[str, ...] = "application/json"  # several: the success answer is one of them
    extra_responses: dict[int, Any] = field(default_factory=dict)  # status → description or (description, schema)
    # A POST route's parameters also documented in the query string (how the game's client sends them).
    query: bool = False
    # Path parameter → its JSON schema (else a plain string); rule → params, where one view serves rules that differ.
    path_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    rule_params: dict[str, Any] = field(default_factory=dict)
    # OpenAPI callbacks: requests the service makes to a URL the client gave (webhooks).
    callbacks: dict[str, Any] = field(default_factory=dict)
    # Request header → (description, its JSON schema), for a route that reads one (Last-Event-ID).
    headers: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


def documented(summary: str, **options: Any) -> Callable:
    """Attach OpenAPI documentation to a view (kept through functools.wraps decorators)."""

    def attach(view: Callable) -> Callable:
        view.api_doc = RouteDoc(summary, **options)
        return view

    return attach


_PATH_PARAM = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_]+)>")


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3 document for every route of ``app``."""
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title="mediacache",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[plugin],
        info={"description": "Self-hosted media cache: queue a URL, poll it, play the file."},
    )
    plugin.converter.map_to_openapi_type(WholeNumber, fields.Integer)
    plugin.converter.add_attribute_function(_boolean_spellings)
    plugin.converter.map_to_openapi_type(JsonObject, fields.Dict)
    plugin.converter.map_to_openapi_type(HardDelete, fields.String)
    plugin.converter.map_to_openapi_type(UtcDateTime, fields.DateTime)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("ErrorEnvelope", schema=ErrorEnvelope)

    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue  # the dashboard's stylesheets and scripts are files, not API
        view = app.view_functions[rule.endpoint]
        doc = getattr(view, "api_doc", None) or RouteDoc((view.__doc__ or rule.endpoint).strip().splitlines()[0])
        path = _PATH_PARAM.sub(r"{\1}", rule.rule)
        names = _PATH_PARAM.findall(rule.rule)
        params = doc.rule_params.get(rule.rule, doc.params)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation = _operation(doc, params, method, names, rule.endpoint, path)
            paths.setdefault(path, {})[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = _settings_filled_in(spec.to_dict(), app.config)
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter["schema"].pop("nullable", False):
                    # A query string has no null: a parameter left out takes its default.
                    parameter["schema"].pop("default", None)
    return document


def _settings_filled_in(node: Any, config: dict[str, Any]) -> Any:
    """The document with each ``x-maximum-setting`` replaced by a ``maximum`` of that setting's value."""
    if isinstance(node, list):
        return [_settings_filled_in(item, config) for item in node]
    if not isinstance(node, dict):
        return node
    filled = {key: _settings_filled_in(value, config) for key, value in node.items()}
    if "x-maximum-setting" in filled:
        filled["maximum"] = config[filled.pop("x-maximum-setting")]
    return filled


def _boolean_spellings(self, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """A ``Bool`` takes true/false, 1/0 and yes/no; the document names each spelling it accepts."""
    if not isinstance(field, Bool):
        return {}
    words = sorted(Bool.TRUE | Bool.FALSE)
    return {"oneOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}, {"type": "string", "enum": words}]}


def _schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__.removesuffix("Schema") or cls.__name__


def _operation(
    doc: RouteDoc, params: Any, method: str, path_params: list[str], endpoint: str, path: str
) -> dict[str, Any]:
    # From the path, not the endpoint: aliases such as /api and /api/ share a view but not an id.
    words = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"
    operation: dict[str, Any] = {
        "summary": doc.summary,
        "operationId": f"{method.lower()}_{words}" + ("_slash" if path.endswith("/") and path != "/" else ""),
        "tags": [endpoint.split(".")[0]],
        "parameters": [
            {"in": "path", "name": name, "required": True, "schema": doc.path_schemas.get(name, {"type": "string"})}
            for name in path_params
        ]
        + [
            {"in": "header", "name": name, "required": False, "description": description, "schema": schema}
            for name, (description, schema) in doc.headers.items()
        ],
        "responses": {str(doc.status): _success(doc)},
    }
    if doc.callbacks:
        operation["callbacks"] = doc.callbacks
    errors = list(doc.errors)
    if params is not None:
        schema = params() if isinstance(params, type) else params
        if method in ("GET", "DELETE") or doc.query:
            # In the query string nothing is required when the body may carry it instead.
            query = type(schema)(partial=True) if doc.query else schema
            operation["parameters"].append({"in": "query", "schema": query})
        if method not in ("GET", "DELETE"):
            # Documented as JSON (the form and query spellings of the same names are accepted too). A body is
            # required only when it must carry something, and never when the query string may carry it instead.
            required = not doc.query and any(f.required for f in schema.fields.values())
            # A JSON null body is no body (API.md): where none is needed, null is as good as {}.
            body = schema if required else {"nullable": True, "allOf": [type(schema)(partial=True)]}
            operation["requestBody"] = {"required": required, "content": {"application/json": {"schema": body}}}
        # What loading the parameters answers: a malformed JSON body, a value the schema refuses.
        errors += ["INVALID_JSON", "VALIDATION_ERROR", *getattr(schema, "error_codes", {}).values()]
    if doc.auth != "none" or params is not None:
        errors += DATABASE_ERRORS
    if doc.auth != "none":
        operation["security"] = [{"bearer": []}]
        errors += AUTH_ERRORS
    if doc.auth == "admin":
        errors.append("FORBIDDEN")
    for status, extra in doc.extra_responses.items():
        description, schema = extra if isinstance(extra, tuple) else (extra, None)
        operation["responses"][str(status)] = {"description": description}
        if schema is not None:
            operation["responses"][str(status)]["content"] = {"application/json": {"schema": schema}}
    for status, codes in _group_by_status(errors, endpoint).items():
        operation["responses"].setdefault(str(status), {
            "description": "Error: " + ", ".join(codes),
            "content": {"application/json": {"schema": "ErrorEnvelope"}},
        })  # fmt: skip
    return operation


def _success(doc: RouteDoc) -> dict[str, Any]:
    if doc.status == 204:
        return {"description": "Done; no body."}
    if isinstance(doc.response, list):
        schema: Any = {"type": "array", "items": doc.response[0]}
    else:
        schema = doc.response or {"type": "object"}
    types = (doc.content_type,) if isinstance(doc.content_type, str) else doc.content_type
    # A stream's schema is that of one event (id, event, data), as OpenAPI 3.2's itemSchema has it.
    content = {kind: {"schema": schema if kind in STRUCTURED else {"type": "string"}} for kind in types}
    return {"description": "Success." if types == ("application/json",) else "The content.", "content": content}


def _group_by_status(codes: list[str], endpoint: str) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for code in dict.fromkeys(codes):
        grouped.setdefault(status_for(code, endpoint), []).append(code)
    return grouped


# Swagger UI is vendored (web/static/vendor/swagger-ui/, version and licence there) and served from this origin.
SWAGGER_UI = "/assets/vendor/swagger-ui"
DOCS_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mediacache API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css"></head>
<body><div id="ui"><noscript>The machine-readable document is at
<a href="/api/openapi.json">/api/openapi.json</a>.</noscript></div>
<script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script></body></html>"""

DOCS_INIT = "window.ui = SwaggerUIBundle({url: '/api/openapi.json', dom_id: '#ui'});\n"

# Nothing from another origin; Swagger UI draws its icons as data: images.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
)
