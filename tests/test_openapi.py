"""The OpenAPI document: valid, complete, and rendered at /api/docs."""

from __future__ import annotations

import re

from openapi_spec_validator import validate


def test_document_is_valid_openapi_3(client):
    document = client.get("/api/openapi.json").json
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_route_of_the_url_map_is_in_the_document(app, client):
    paths = client.get("/api/openapi.json").json["paths"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-zA-Z_]+)>", r"{\1}", rule.rule)
        assert path in paths, path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[path], f"{method} {path}"


def test_queue_documents_its_parameters_answers_and_error_codes(client):
    operation = client.get("/api/openapi.json").json["paths"]["/api/media/queue"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    # Optional, and null like no body: the url may come in the query string instead (how the game's client sends it).
    assert operation["requestBody"]["required"] is False
    assert body == {"nullable": True, "allOf": [{"$ref": "#/components/schemas/Queue"}]}
    responses = operation["responses"]
    assert {"200", "201", "202", "400", "401", "403", "409", "429", "507"} <= responses.keys()
    assert "PLAYLIST_NOT_SUPPORTED" in responses["400"]["description"]
    components = client.get("/api/openapi.json").json["components"]["schemas"]
    assert {"url", "ttl", "profile", "bitrate", "resolution", "dont_clean_title", "extra"} <= components["Queue"][
        "properties"].keys()  # fmt: skip
    assert "bearer" in client.get("/api/openapi.json").json["components"]["securitySchemes"]


def test_list_routes_document_their_filters_as_query_parameters(client):
    operation = client.get("/api/openapi.json").json["paths"]["/api/media"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"valid", "status", "cache_state", "profile", "q", "requested_by", "sort", "page", "limit"} <= names


def test_docs_page_renders_the_document_under_a_strict_policy(client):
    response = client.get("/api/docs")
    assert response.mimetype == "text/html" and b"/api/openapi.json" in response.data
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy
    assert client.get("/api/docs/init.js").mimetype == "application/javascript"
