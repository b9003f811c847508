"""Random and malformed parameters on every route: never a 5xx, always the envelope on a 4xx."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediacache import create_app
from tests.helpers import ADMIN_PASSWORD, make_settings

# Names the routes read, so the fuzzer reaches past "missing parameter" into validation.
KNOWN_NAMES = [
    "url", "ttl", "profile", "bitrate", "resolution", "dontcleantitle", "dontCleanTitle", "extra", "hard", "force",
    "page", "limit", "sort", "status", "cache_state", "valid", "q", "requested_by", "raw", "username", "password",
    "email", "role", "active", "duration_hours", "durationHours", "current_password", "new_password", "ids", "value",
    "since", "until", "user", "format", "action", "actor",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", "null", "true", "0", "-1", "1e999", "NaN", "192k", "mp3", "720p", "ftp://x", "http://",
                     "https://127.0.0.1/a.mp3", "2026-13-45T99:99:99Z", "../../etc/passwd", "\x00", "😀" * 5]),
)  # fmt: skip
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=3))
params = st.dictionaries(st.one_of(st.sampled_from(KNOWN_NAMES), st.text(max_size=8)), values, max_size=6)
path_values = st.one_of(st.sampled_from(["1", "admin", "0", "-1", "99999999999999999999", "x" * 300, "%00", ".."]),
                        st.text(min_size=1, max_size=20).filter(lambda t: "/" not in t))  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    """One app for the whole module; the SSRF guard keeps random URLs from going anywhere."""
    app = create_app(make_settings(
        tmp_path_factory.mktemp("fuzz"), ALLOW_PRIVATE_URLS=False, QUEUE_RATE_LIMIT="100000 per minute",
        LOOKUP_RATE_LIMIT="100000 per minute", LOGIN_RATE_LIMIT="100000 per minute",
        REGISTER_RATE_LIMIT="100000 per minute", REGISTRATION="open",
    ))  # fmt: skip
    yield app
    app.extensions["mediacache.jobs"].shutdown()


def routes(app) -> list[tuple[str, str]]:
    """Every (method, rule) of the URL map."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            found += [(method, rule.rule) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(found)


def _stringify(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def test_every_route_is_fuzzed(fuzz_app):
    # Guards the parametrization below against silently fuzzing nothing.
    assert len(routes(fuzz_app)) > 40


# The URL map is needed at collection time, before fixtures exist: a throwaway app in a temp dir.
ROUTES = routes(create_app(make_settings(Path(tempfile.mkdtemp(prefix="mediacache-routes-")))))


@pytest.mark.parametrize("route", ROUTES)
def test_random_parameters_never_cause_a_server_error(fuzz_app, route):
    method, rule = route

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(
        params=params,
        path=st.lists(path_values, min_size=3, max_size=3),
        how=st.sampled_from(["query", "json", "form", "null", "garbage"]),
        authed=st.booleans(),
    )
    def check(params, path, how, authed):
        client = fuzz_app.test_client()
        headers = {}
        if authed:
            token = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}).json["token"]
            headers["Authorization"] = f"Bearer {token}"
        values = iter(path)
        url = re.sub(r"<(?:[a-z]+:)?[a-zA-Z_]+>", lambda _: next(values), rule)
        kwargs = {"headers": headers}
        if how == "query":
            kwargs["query_string"] = {key: _stringify(value) for key, value in params.items()}
        elif how == "json":
            kwargs["data"] = json.dumps(params, allow_nan=True)
            kwargs["content_type"] = "application/json"
        elif how == "form":
            kwargs["data"] = {key: _stringify(value) for key, value in params.items()}
        elif how == "null":
            kwargs["data"], kwargs["content_type"] = "null", "application/json"
        else:
            kwargs["data"], kwargs["content_type"] = b"\xff{not json", "application/json"
        response = client.open(url, method=method, **kwargs)
        assert response.status_code < 500, (method, url, kwargs, response.get_data(as_text=True)[:500])
        if response.status_code >= 400:
            body = response.get_json(silent=True)
            assert body and body["error"]["code"] and body["error"]["message"], response.data[:300]
            assert body["request_id"] == response.headers["X-Request-ID"]

    check()
