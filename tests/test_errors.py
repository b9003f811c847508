"""The error envelope and X-Request-ID on every response."""

from __future__ import annotations

import pytest

from mediacache import create_app
from tests.helpers import make_settings


def assert_envelope(response, status: int, code: str) -> None:
    """The response is the API.md error envelope with this status and code."""
    assert response.status_code == status
    assert response.is_json
    body = response.json
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["details"] == {} or isinstance(body["error"]["details"], dict)
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_unknown_route_is_404_in_the_envelope(client):
    assert_envelope(client.get("/api/nothing-here"), 404, "NOT_FOUND")


def test_wrong_method_is_405_in_the_envelope(client):
    response = client.delete("/api/ping")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["Allow"]


def test_unexpected_exception_is_500_in_the_envelope_without_a_trace(tmp_path):
    app = create_app(make_settings(tmp_path))
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert_envelope(response, 500, "INTERNAL_ERROR")
    assert "secret internals" not in response.get_data(as_text=True)


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"text"'])
def test_malformed_or_non_object_json_is_400(client, body):
    assert_envelope(client.post("/api/login", data=body, content_type="application/json"), 400, "INVALID_JSON")


def test_oversized_body_is_413(tmp_path):
    client = create_app(make_settings(tmp_path, MAX_BODY_BYTES=1024)).test_client()
    response = client.post("/api/login", data="x" * 4096, content_type="application/json")
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_every_response_has_a_request_id_and_a_valid_incoming_one_is_echoed(client):
    assert client.get("/api/ping").headers["X-Request-ID"]
    assert client.get("/api/ping", headers={"X-Request-ID": "game-42.abc"}).headers["X-Request-ID"] == "game-42.abc"
    replaced = client.get("/api/ping", headers={"X-Request-ID": "bad id\twith spaces"}).headers["X-Request-ID"]
    assert replaced != "bad id\twith spaces" and replaced


def test_ping_and_health_need_no_token(client):
    assert client.get("/api/ping").json == {"status": "ok", "message": "server is alive"}
    health = client.get("/health").json
    assert health["status"] == "ok" and health["timestamp"].endswith("Z")
