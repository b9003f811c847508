"""PUT/GET/DELETE /api/admin/cookies: a Netscape cookies.txt for yt-dlp, without a restart (issue 16)."""

from __future__ import annotations

import stat
from pathlib import Path

COOKIES = (
    "# Netscape HTTP Cookie File\n"
    ".youtube.com\tTRUE\t/\tTRUE\t1893456000\tSID\tsecret-session-value\n"
    ".youtube.com\tTRUE\t/\tTRUE\t1861920000\t__Secure-3PSID\tanother-secret\n"
    "media.example.org\tFALSE\t/\tFALSE\t0\tplain\tsession-only-secret\n"
)


def put_cookies(client, headers, text, **kwargs):
    return client.put("/api/admin/cookies", data=text, content_type="text/plain", headers=headers, **kwargs)


def test_uploaded_cookies_are_stored_0600_and_shown_as_domains_and_expiry_only(app, client, admin):
    response = put_cookies(client, admin, COOKIES)
    assert response.status_code == 200, response.json
    path = Path(app.config["INSTANCE_DIR"]) / "cookies.txt"
    assert path.read_text() == COOKIES and stat.S_IMODE(path.stat().st_mode) == 0o600
    shown = client.get("/api/admin/cookies", headers=admin)
    assert shown.status_code == 200 and shown.json["present"] is True and shown.json["cookies"] == 3
    domains = {entry["domain"]: entry for entry in shown.json["domains"]}
    assert domains["youtube.com"]["cookies"] == 2 and domains["youtube.com"]["expires_at"] == "2030-01-01T00:00:00Z"
    assert domains["media.example.org"]["session"] == 1
    for body in (response.get_data(as_text=True), shown.get_data(as_text=True)):
        assert "secret" not in body and "SID" not in body


def test_the_next_job_sends_the_uploaded_cookies(app, client, admin, media_server):
    from mediacache.sources.ytdlp_options import base_options

    assert "cookiefile" not in base_options(app.config)
    put_cookies(client, admin, COOKIES)
    assert base_options(app.config)["cookiefile"] == str(Path(app.config["INSTANCE_DIR"]) / "cookies.txt")
    # yt-dlp itself sends them: the origin sees the cookie of its host on the download.
    own = "127.0.0.1\tFALSE\t/\tFALSE\t0\tplayer\tnot-a-bot\n"
    assert put_cookies(client, admin, "# Netscape HTTP Cookie File\n" + own).status_code == 200
    queued = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=admin).json
    from tests.helpers import wait_for_entry

    assert wait_for_entry(client, queued["id"], admin)["status"] == "completed"
    assert any("player=not-a-bot" in (cookie or "") for cookie in media_server.cookies)
    # yt-dlp writes its jar back when it closes: to the job's own copy, never over the upload.
    assert (Path(app.config["INSTANCE_DIR"]) / "cookies.txt").read_text() == "# Netscape HTTP Cookie File\n" + own


def test_cookies_that_are_not_netscape_format_are_refused_and_the_old_file_kept(app, client, admin):
    put_cookies(client, admin, COOKIES)
    for bad in ("", "hello world", "# Netscape HTTP Cookie File\nnot\tenough\tfields\n", "x" * (1024 * 1024 - 100)):
        response = put_cookies(client, admin, bad)
        assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_COOKIES", response.json
    assert (Path(app.config["INSTANCE_DIR"]) / "cookies.txt").read_text() == COOKIES
    assert not list(Path(app.config["INSTANCE_DIR"]).glob(".cookies-*"))


def test_cookies_may_come_as_a_file_upload_or_json(client, admin):
    import io

    upload = client.put("/api/admin/cookies", data={"cookies": (io.BytesIO(COOKIES.encode()), "cookies.txt")},
                        headers=admin)  # fmt: skip
    assert upload.status_code == 200 and upload.json["cookies"] == 3
    assert client.put("/api/admin/cookies", json={"cookies": COOKIES}, headers=admin).json["cookies"] == 3


def test_delete_removes_the_cookies_and_every_change_is_audit_logged_without_values(app, client, admin):
    put_cookies(client, admin, COOKIES)
    assert client.delete("/api/admin/cookies", headers=admin).status_code == 204
    assert client.get("/api/admin/cookies", headers=admin).json == {"present": False, "domains": [], "cookies": 0}
    assert not (Path(app.config["INSTANCE_DIR"]) / "cookies.txt").exists()
    log = client.get("/api/admin/activity", headers=admin).get_data(as_text=True)
    assert "cookies_uploaded" in log and "cookies_deleted" in log and "youtube.com" in log
    assert "secret" not in log


def test_only_admins_see_or_change_cookies(client, user):
    assert client.get("/api/admin/cookies", headers=user).status_code == 403
    assert put_cookies(client, user, COOKIES).status_code == 403
    assert client.delete("/api/admin/cookies", headers=user).status_code == 403
    assert client.get("/api/admin/cookies").status_code == 401
