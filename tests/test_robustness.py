"""Hostile input and a sick database: deep JSON, control characters in logs, a locked or damaged SQLite file."""

from __future__ import annotations

import json

import pytest

from tests.test_errors import assert_envelope

# Deep enough that the JSON parser itself gives up (RecursionError), far past any stack limit.
PARSER_BREAKING = "[" * 100_000 + "]" * 100_000
# Parses, but deeper than any parameter needs, and deep enough to make encoders and validators recurse.
DEEP_OBJECT = '{"a": ' * 900 + "1" + "}" * 900
# Small enough for the 4 KiB limit of `extra`, too deep for anything else.
DEEP_EXTRA = {"url": "http://127.0.0.1:9/a.mp3", "extra": "[" * 1500 + "]" * 1500}


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/api/login", None),
        ("/api/auth/login", None),
        ("/api/register", None),
        ("/api/media/queue", "user"),
        ("/api/token", "user"),
        ("/api/ytdlp", "user"),
        ("/api/users", "admin"),
    ],
)
@pytest.mark.parametrize("body", [PARSER_BREAKING, DEEP_OBJECT], ids=["parser-breaking", "deep-object"])
def test_deeply_nested_json_body_is_400_invalid_json(request, client, path, who, body):
    headers = request.getfixturevalue(who) if who else {}
    response = client.post(path, data=body, content_type="application/json", headers=headers)
    assert_envelope(response, 400, "INVALID_JSON")
    assert "nested" in response.json["error"]["message"]


def test_deeply_nested_json_body_of_a_get_is_400_invalid_json(client, user):
    response = client.get("/api/media", data=PARSER_BREAKING, content_type="application/json", headers=user)
    assert_envelope(response, 400, "INVALID_JSON")


def test_deeply_nested_extra_given_as_a_string_is_400_invalid_extra(client, user):
    assert_envelope(client.post("/api/media/queue", json=DEEP_EXTRA, headers=user), 400, "INVALID_EXTRA")
    form = client.post("/api/media/queue", data=DEEP_EXTRA, headers=user)
    assert_envelope(form, 400, "INVALID_EXTRA")


def test_ordinary_nesting_in_extra_is_still_accepted(client, user):
    extra = {"round": {"players": [{"ckey": "p1", "tags": ["a", ["b"]]}]}}
    # Nothing listens on port 9: the job fails at once, the request log keeps the call.
    response = client.post("/api/media/queue", json={"url": "http://127.0.0.1:9/a.mp3", "extra": extra}, headers=user)
    assert response.status_code == 201, response.json
    assert json.dumps(extra) in json.dumps(client.get("/api/logs?format=json", headers=user).json["items"][0])
