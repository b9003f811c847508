"""What the game server's client and the original service's own requests rely on at the edges (issue 17)."""

from __future__ import annotations

from tests.helpers import wait_for_entry


def cancelled_entry(app, client, headers, media_server) -> str:
    """An entry whose running job was cancelled by a forced delete."""
    media_server.trickle_delay = 0.1
    media_id = client.post("/api/media/queue", json={"url": media_server.url("/trickle/long.mp3")},
                           headers=headers).json["id"]  # fmt: skip
    wait_for_entry(client, media_id, headers, until=("downloading",))
    assert client.delete(f"/api/media/{media_id}?force=true", headers=headers).status_code == 204
    assert app.extensions["mediacache.jobs"].wait_idle(20)
    return media_id


def test_a_cancelled_job_is_failed_with_code_cancelled_wherever_the_api_shows_it(app, client, admin, media_server):
    media_id = cancelled_entry(app, client, admin, media_server)
    polled = client.get(f"/api/media/{media_id}", headers=admin).json
    # The client loops until completed or failed: it must see one of them.
    assert polled["status"] == "failed" and polled["error"]["code"] == "CANCELLED" and polled["error"]["message"]
    for listing in ("/api/media", "/api/media?status=failed", "/api/media?status=cancelled", "/api/admin/jobs/dlq"):
        items = client.get(listing, headers=admin).json["items"]
        assert [(i["id"], i["status"], i["error"]["code"]) for i in items] == [(media_id, "failed", "CANCELLED")]
    assert client.get("/api/media?status=completed", headers=admin).json["items"] == []
    assert client.get("/api/stats", headers=admin).json["by_status"] == {"failed": 1}


def test_a_cancelled_job_can_still_be_retried(app, client, admin, media_server):
    media_id = cancelled_entry(app, client, admin, media_server)
    retried = client.post(f"/api/media/{media_id}/retry", headers=admin)
    assert retried.status_code == 202 and retried.json["error"] is None
    assert retried.json["status"] in ("pending", "downloading", "processing", "completed")
