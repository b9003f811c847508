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
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue  # the dashboard's files
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


# --- what schemathesis found untrue (issue 17.7); tests/test_openapi_fuzz.py runs it on the live server ----------


def _document(client) -> dict:
    return client.get("/api/openapi.json").json


def test_queue_documents_its_parameters_in_the_query_string_too(client):
    operation = _document(client)["paths"]["/api/media/queue"]["post"]
    query = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    assert {"url", "ttl", "profile", "bitrate", "resolution", "dont_clean_title", "extra"} <= query.keys()
    assert query["url"]["schema"]["pattern"].startswith("^https?://")
    # A query string has no null: no query parameter is documented as nullable.
    assert not [name for name, p in query.items() if p["schema"].get("nullable")]


def test_last_login_at_is_nullable(client):
    assert _document(client)["components"]["schemas"]["User"]["properties"]["last_login_at"]["nullable"] is True


def test_every_route_with_parameters_documents_its_400(client):
    for path, operations in _document(client)["paths"].items():
        for method, operation in operations.items():
            if operation.get("requestBody") or any(p["in"] == "query" for p in operation["parameters"]):
                assert "VALIDATION_ERROR" in operation["responses"]["400"]["description"], f"{method} {path}"


def test_change_password_documents_its_403_for_a_wrong_current_password(client):
    responses = _document(client)["paths"]["/api/auth/change-password"]["post"]["responses"]
    assert "INVALID_CREDENTIALS" in responses["403"]["description"]


def test_logs_and_downloads_document_the_types_they_answer_with(client):
    paths = _document(client)["paths"]
    assert set(paths["/api/logs"]["get"]["responses"]["200"]["content"]) == {"text/plain", "application/json"}
    for path in ("/api/media/{media_id}/download", "/cache/{media_id}/{file_name}"):
        types = set(paths[path]["get"]["responses"]["200"]["content"])
        assert {"audio/mpeg", "audio/ogg", "audio/flac", "video/mp4", "video/webm"} <= types, path
        assert all(kind.startswith(("audio/", "video/")) for kind in types), path


def test_a_body_is_required_only_where_it_must_carry_something(client):
    paths = _document(client)["paths"]
    assert paths["/api/login"]["post"]["requestBody"]["required"] is True
    assert paths["/api/users"]["post"]["requestBody"]["required"] is True
    for path, method in (("/api/token", "post"), ("/api/users/{ref}", "patch"), ("/api/logs", "post")):
        body = paths[path][method]["requestBody"]
        # API.md: a JSON null body is no body.
        assert body["required"] is False and body["content"]["application/json"]["schema"]["nullable"] is True


def test_booleans_document_every_spelling_they_accept(client):
    active = _document(client)["components"]["schemas"]["UserUpdate"]["properties"]["active"]
    assert {"type": "boolean"} in active["oneOf"]
    assert {"type": "string", "enum": ["0", "1", "false", "no", "true", "yes"]} in active["oneOf"]


def test_options_lists_only_the_methods_of_the_route_the_path_names(client):
    # /api/media/queue also matches /api/media/<media_id> (GET, DELETE): those are not the queue's.
    assert client.options("/api/media/queue").headers["Allow"] == "OPTIONS, POST"
    assert client.options("/api/users/me").headers["Allow"] == "GET, HEAD, OPTIONS"
    assert client.options("/api/media/x").headers["Allow"] == "DELETE, GET, HEAD, OPTIONS"


def test_a_405_allows_only_the_methods_of_the_route_the_path_names(client):
    response = client.patch("/api/media/queue")
    assert response.status_code == 405 and response.headers["Allow"] == "OPTIONS, POST"
    assert response.json["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_a_preflight_allows_only_the_methods_of_the_route_the_path_names(client):
    response = client.options(
        "/api/media/queue", headers={"Origin": "https://game.example", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 204 and response.headers["Access-Control-Allow-Methods"] == "OPTIONS, POST"


def test_a_fraction_is_refused_where_a_whole_number_is_documented(client, admin):
    response = client.get("/api/users?page=1", json={"limit": 2.5}, headers=admin)
    assert response.status_code == 400 and "limit" in response.json["error"]["message"]


def test_lookup_of_an_unknown_entry_id_is_a_404(client, admin):
    response = client.get("/api/ytdlp/6f0c2c55-1b0e-4b9b-9a59-0f1d6b1f3e2a", headers=admin)
    assert response.status_code == 404 and response.json["error"]["code"] == "NOT_FOUND"
