"""patches/: every change to a library is tied to the versions it was tested with, and says when it is not in force."""

from __future__ import annotations

import logging

import pytest

from mediacache import patches
from mediacache.sources import ytdlp_downloader

REAL_VERSION = patches.installed_version


@pytest.fixture
def present(monkeypatch):
    """Make the service see another installed version of one library: ``present("waitress", "9.0")``."""

    def presenting(library: str, version: str) -> None:
        monkeypatch.setattr(
            patches, "installed_version", lambda name: version if name == library else REAL_VERSION(name)
        )
        monkeypatch.setattr(patches, "_warned", set())  # a fresh start-up: the warning may be given again
        ytdlp_downloader.guard_self_check.cache_clear()

    yield presenting
    monkeypatch.undo()
    ytdlp_downloader.guard_self_check.cache_clear()


def test_health_lists_every_patch_in_force_with_its_library_and_tested_range(client):
    check = client.get("/api/health").json["checks"]["patches"]
    assert check["status"] == "healthy"
    libraries = {patch["library"] for patch in check["patches"]}
    assert libraries == {"waitress", "yt-dlp", "flask-jwt-extended", "Flask-Limiter", "python"}
    assert all(patch["in_force"] and patch["tested"] for patch in check["patches"])


def test_a_patch_outside_its_range_is_not_applied_and_warns_once_naming_it(configured, present, caplog):
    present("flask-jwt-extended", "5.0.0")
    with caplog.at_level(logging.WARNING, logger="mediacache.patches"):
        _, client, headers = configured()  # start-up: logs in, so a token is decoded too
        for _ in range(3):
            assert client.get("/api/users/me", headers=headers).status_code == 200  # the library as released
    warnings = [
        record.getMessage() for record in caplog.records if "flask-jwt-extended verify once" in record.getMessage()
    ]
    assert len(warnings) == 1 and "5.0.0" in warnings[0], warnings
    check = client.get("/api/health").json["checks"]["patches"]
    assert check["status"] == "degraded" and "flask-jwt-extended verify once" in check["note"]
    (jwt_patch,) = [patch for patch in check["patches"] if patch["library"] == "flask-jwt-extended"]
    assert (jwt_patch["installed"], jwt_patch["in_force"]) == ("5.0.0", False)


def test_the_network_guard_outside_its_range_fails_closed_and_health_says_why(configured, present, media_server):
    present("yt-dlp", "2099.1.1")
    _, client, headers = configured(ALLOW_PRIVATE_URLS=True)
    health = client.get("/api/health")
    guard = health.json["checks"]["network_guard"]
    assert health.status_code == 503 and guard["status"] == "unhealthy"
    assert "yt-dlp network guard" in guard["error"] and "2099.1.1" in guard["error"]
    looked_up = client.get("/api/ytdlp", query_string={"url": media_server.url("/media/tone.mp3")}, headers=headers)
    assert looked_up.status_code == 503 and looked_up.json["error"]["code"] == "NETWORK_GUARD_FAILED"
    assert media_server.requests == []  # nothing was fetched


@pytest.mark.parametrize("patched", [True, False])
def test_a_process_yt_dlp_starts_dies_with_the_service(patched):
    """ffmpeg for merges and the JavaScript runtime are started by yt-dlp itself; a killed service takes them along."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from tests.helpers import eventually

    script = (
        ("import mediacache.sources.ytdlp_downloader\n" if patched else "") + "import yt_dlp.utils, sys\n"
        "child = yt_dlp.utils.Popen(['sleep', '300'])\n"
        "print(child.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    service = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    child = int(service.stdout.readline())
    try:
        service.send_signal(signal.SIGKILL)
        service.wait()

        def gone() -> bool:
            try:
                return Path(f"/proc/{child}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
            except FileNotFoundError:
                return True

        if patched:
            eventually(gone, timeout=10, failure=lambda _: f"yt-dlp's child {child} outlived the killed service")
        else:
            assert not gone()  # the control: as released, yt-dlp's children outlive a killed service
    finally:
        subprocess.run(["kill", "-9", str(child)], capture_output=True)
