"""The real server: `python app.py` on a free port, spoken to over HTTP."""

from __future__ import annotations

import pytest

from tests.helpers import ADMIN_PASSWORD, LiveServer, auth_header


@pytest.mark.e2e
def test_server_starts_serves_and_keeps_users_and_tokens_across_restarts(tmp_path):
    server = LiveServer(tmp_path, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD).start()
    try:
        assert server("GET", "/api/ping")[2] == {"status": "ok", "message": "server is alive"}
        status, headers, body = server("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})
        assert status == 200 and headers["X-Request-ID"]
        assert headers["Server"] == "mediacache"  # no framework or version banner
        token = body["token"]
        status, _, _ = server(
            "POST",
            "/api/users",
            body={"username": "gameserver", "password": "gs-password"},
            headers=auth_header(token),
        )
        assert status == 201
        server.wait_for_log(f"listening on http://127.0.0.1:{server.port}")
    finally:
        server.stop()

    server.start()
    try:
        assert server("GET", "/api/users/me", headers=auth_header(token))[2]["username"] == "admin"
        status, _, _ = server("POST", "/api/login", body={"username": "gameserver", "password": "gs-password"})
        assert status == 200
    finally:
        server.stop()


@pytest.mark.e2e
def test_server_prints_a_generated_admin_password_on_first_start(tmp_path):
    server = LiveServer(tmp_path).start()
    try:
        log = server.wait_for_log("generated password")
        password = log.split("generated password: ")[1].split()[0]
        assert server("POST", "/api/login", body={"username": "admin", "password": password})[0] == 200
    finally:
        server.stop()


@pytest.mark.e2e
def test_server_refuses_to_start_on_a_bad_setting(tmp_path):
    import subprocess
    import sys

    from tests.helpers import ROOT

    server = LiveServer(tmp_path, MEDIACACHE_SECRET_KEY="short")
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], env=server.env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "MEDIACACHE_SECRET_KEY" in result.stderr
