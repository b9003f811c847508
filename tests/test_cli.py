"""Command-line administration: flask --app app <command>."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.helpers import login, shift, wait_for_entry


def test_create_user_makes_a_service_account_for_a_game_server(app, client):
    result = app.test_cli_runner().invoke(
        args=["create-user", "gameserver", "--role", "service", "--password", "game-pass-1"]
    )
    assert result.exit_code == 0, result.output
    assert login(client, "gameserver", "game-pass-1")["user"]["role"] == "service"


def test_create_user_and_set_password(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "botty", "--role", "admin", "--password", "botty-pass-1"])
    assert result.exit_code == 0, result.output
    assert login(client, "botty", "botty-pass-1")["user"]["role"] == "admin"
    token = login(client, "botty", "botty-pass-1")["token"]
    result = runner.invoke(args=["set-password", "botty", "--password", "botty-pass-2"])
    assert result.exit_code == 0, result.output
    assert client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    login(client, "botty", "botty-pass-2")
    assert runner.invoke(args=["set-password", "ghost", "--password", "whatever-1"]).exit_code != 0


def test_sweep_purge_and_stats(app, client, admin, media_server):
    body = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=admin).json
    wait_for_entry(client, body["id"], admin)
    shift(app, body["id"], expires_at=timedelta(days=1))
    runner = app.test_cli_runner()
    assert json.loads(runner.invoke(args=["sweep"]).output) == {"expired": 1, "purged": 0}
    assert json.loads(runner.invoke(args=["purge"]).output) == {"purged": 0}
    assert json.loads(runner.invoke(args=["purge", "--all-retained"]).output) == {"purged": 1}
    stats = json.loads(runner.invoke(args=["stats"]).output)
    assert stats["total_conversions"] == 1 and stats["cache"]["purged"] == 1


def test_purge_by_id_removes_a_live_file(app, client, admin, media_server):
    body = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=admin).json
    done = wait_for_entry(client, body["id"], admin)
    result = app.test_cli_runner().invoke(args=["purge", "--id", body["id"]])
    assert result.exit_code == 0, result.output
    assert client.get(done["path"]).status_code == 404
    assert client.get(f"/api/media/{body['id']}", headers=admin).json["cache_state"] == "purged"
