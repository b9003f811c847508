"""The real server (`python app.py`) doing the game-server flow over HTTP, and surviving a SIGKILL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import ADMIN_PASSWORD, LiveServer, auth_header, wait_for_entry

pytestmark = pytest.mark.e2e  # every test here runs the real server


@pytest.fixture
def server(tmp_path):
    """A live server that may fetch from the loopback origin."""
    live = LiveServer(tmp_path, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD, MEDIACACHE_ALLOW_PRIVATE_URLS="true",
                      MEDIACACHE_SCHEDULER="false")  # fmt: skip
    yield live.start()
    live.stop()


def poll(server, media_id, headers, until=("completed", "failed", "cancelled"), timeout=60):
    """Poll the entry as a game server does."""
    return wait_for_entry(server, media_id, headers, until=until, timeout=timeout)


def token(server):
    """Log in over HTTP."""
    return server("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})[2]["token"]


def test_game_server_flow_over_http(server, media_server):
    headers = auth_header(token(server))
    status, headers_out, body = server(
        "POST", "/api/media/queue", body={"url": media_server.url("/media/tone.mp3"), "profile": "ogg-opus"},
        headers=headers,
    )  # fmt: skip
    assert status == 201 and headers_out["Location"].endswith(body["id"])
    done = poll(server, body["id"], headers)
    assert done["status"] == "completed" and done["endpoints"][0].startswith(server.base)
    status, file_headers, data = server("GET", done["path"], headers={"Range": "bytes=0-3"})
    assert status == 206 and data == b"OggS" and file_headers["Access-Control-Allow-Origin"] == "*"
    whole = server("GET", done["path"])[2]
    status, file_headers, middle = server("GET", done["path"], headers={"Range": "bytes=1000-20999"})
    assert status == 206 and middle == whole[1000:21000] and file_headers["Content-Length"] == "20000"


def test_sigkill_during_a_download_then_restart_completes_the_entry(server, media_server, tmp_path):
    media_server.trickle_delay = 0.05
    headers = auth_header(token(server))
    _, _, body = server("POST", "/api/media/queue", body={"url": media_server.url("/trickle/long.mp3")},
                        headers=headers)  # fmt: skip
    poll(server, body["id"], headers, until=("downloading",))
    temp_root = tmp_path / "static_cache" / ".tmp"
    deadline = time.monotonic() + 30
    # Wait until some bytes have landed in the job's temp dir, then kill.
    while not any(path.is_file() and path.stat().st_size for path in temp_root.glob(f"{body['id']}-*/**/*")):
        assert time.monotonic() < deadline, "no bytes of the download reached the temp dir"
        time.sleep(0.02)
    server.kill()
    assert list(temp_root.glob(f"{body['id']}-*")), "the kill should have left a partial download behind"

    media_server.trickle_delay = 0.001
    server.start()
    done = poll(server, body["id"], headers)
    assert done["status"] == "completed", done["error"]
    live = tmp_path / "static_cache" / body["id"]
    files = list(live.iterdir())
    assert [f.name for f in files] == [Path(done["path"]).name]
    assert abs(done["length_ms"] - 30_000) < 300, "the published file must be whole"
    assert not list(temp_root.glob(f"{body['id']}*"))


def test_a_polite_stop_keeps_the_hits_counted_in_memory(server, media_server):
    headers = auth_header(token(server))
    _, _, body = server("POST", "/api/media/queue", body={"url": media_server.url("/media/tone.mp3")}, headers=headers)
    done = poll(server, body["id"], headers)
    for _ in range(3):
        assert server("GET", done["path"])[0] == 200
    server.stop()  # SIGTERM, as systemd sends
    assert server.process.returncode == 0
    server.start()
    assert server("GET", f"/api/media/{body['id']}", headers=headers)[2]["hits"] == 3
