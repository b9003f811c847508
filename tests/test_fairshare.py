"""One account never holds every worker while another account's job waits (jobs/fairshare.py)."""

from __future__ import annotations

from tests.helpers import auth_header, eventually, login, read_entry, wait_for_entry


def _account(client, admin, name: str) -> dict[str, str]:
    response = client.post("/api/users", json={"username": name, "password": f"{name}-pass-1"}, headers=admin)
    assert response.status_code == 201, response.json
    return auth_header(login(client, name, f"{name}-pass-1")["token"])


def _queue(client, headers, url: str, **params) -> str:
    response = client.post("/api/media/queue", json={"url": url, **params}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["id"]


def test_an_account_holding_a_worker_leaves_the_last_one_to_another_accounts_waiting_job(configured, media_server):
    _, client, admin = configured(WORKERS=2)
    hoarder, other = _account(client, admin, "hoarder"), _account(client, admin, "other")
    # Both workers busy: one with the admin's download held half-way, one with the hoarder's.
    first = _queue(client, admin, media_server.url("/gated/tone.mp3"))
    held = _queue(client, hoarder, media_server.url("/gated/long.mp3"))
    eventually(lambda: len(media_server.held) >= 2)
    # Waiting for a worker, in this order: another held download of the hoarder's, then the other account's job.
    second = _queue(client, hoarder, media_server.url("/gated/long.mp3"), start=1)
    waiting = _queue(client, other, media_server.url("/media/tone.mp3"))
    # A worker comes free: the hoarder, holding one already, must not take it while "other" waits.
    assert client.delete(f"/api/media/{first}?force=true", headers=admin).status_code in (200, 202, 204)
    done = wait_for_entry(client, waiting, other, timeout=60)
    assert done["status"] == "completed"
    assert read_entry(client, held, hoarder)["status"] == "downloading"
    # Nobody else waits now: the hoarder's other job takes the free worker after all.
    for entry in (held, second):
        assert wait_for_entry(client, entry, hoarder, meanwhile=media_server.release_gated)["status"] == "completed"


def test_with_nobody_else_waiting_one_account_gets_every_worker(configured, media_server):
    _, client, admin = configured(WORKERS=2)
    ids = [_queue(client, admin, media_server.url("/gated/tone.mp3"), start=start) for start in (0, 1)]
    eventually(lambda: len(media_server.held) >= 2)  # both downloads under way at once
    for entry in ids:
        assert wait_for_entry(client, entry, admin, meanwhile=media_server.release_gated)["status"] == "completed"
