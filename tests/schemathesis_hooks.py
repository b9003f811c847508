"""schemathesis hooks for tests/test_openapi_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

Every case gets a fresh admin token of the test's own server (a case may log out the one it
was given), and every call that changes or deletes an account is pointed at an account the
test made for that purpose, never at the admin the calls are made as.
"""

from __future__ import annotations

import json
import os
import urllib.request

import schemathesis

BASE = os.environ["MEDIACACHE_FUZZ_BASE"]
PASSWORD = os.environ["MEDIACACHE_FUZZ_PASSWORD"]
VICTIM = "fuzz-victim"


def _post(path: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"null")


@schemathesis.auth(refresh_interval=None)
class FreshAdminLogin:
    """A new login per case: access token for every route, the refresh token for /api/auth/refresh."""

    def get(self, case, ctx):
        return _post("/api/login", {"username": "admin", "password": PASSWORD})

    def set(self, case, data, ctx):
        token = data["refresh_token"] if case.path == "/api/auth/refresh" else data["token"]
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """Account changes and deletions land on the test's own throwaway account, which is made again when gone."""
    if case.path == "/api/users/{ref}" and case.method in ("PATCH", "PUT", "DELETE"):
        admin = _post("/api/login", {"username": "admin", "password": PASSWORD})["token"]
        _post("/api/users", {"username": VICTIM, "password": "victim-pass-1"}, admin)  # 409 when it exists
        case.path_parameters = {**(case.path_parameters or {}), "ref": VICTIM}
