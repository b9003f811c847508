"""Stopping the real server with a job running: SIGTERM ends it within MEDIACACHE_STOP_TIMEOUT, even when the
job cannot be cancelled, and the next start resumes the job; after SIGKILL no ffmpeg of its is left running."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from mediacache.sources.ffmpeg import find_ffmpeg
from tests.helpers import ADMIN_PASSWORD, LiveServer, auth_header, wait_for_entry

STOP_TIMEOUT = 5


def _start(tmp_path, **env: str) -> tuple[LiveServer, dict[str, str]]:
    server = LiveServer(
        tmp_path, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD, MEDIACACHE_ALLOW_PRIVATE_URLS="true", **env
    ).start()
    token = server("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})[2]["token"]
    return server, auth_header(token)


def _wait_for(server: LiveServer, media_id: str, headers: dict[str, str], states: tuple[str, ...], timeout=60):
    return wait_for_entry(server, media_id, headers, until=states, timeout=timeout)


def _children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``, with their command lines."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid:
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue  # it ended while we looked
    return found


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting for whoever inherited it to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_with_a_job_downloading_exits_in_time_and_the_next_start_resumes_it(tmp_path, media_server):
    media_server.trickle_delay = 1.0  # 2 KiB a second: the download would take minutes
    server, headers = _start(tmp_path, MEDIACACHE_STOP_TIMEOUT=str(STOP_TIMEOUT))
    try:
        status, _, entry = server("POST", "/api/media/queue", body={"url": media_server.url("/trickle/long.mp3")},
                                  headers=headers)  # fmt: skip
        assert status == 201, entry
        _wait_for(server, entry["id"], headers, ("downloading",))
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(STOP_TIMEOUT + 5)  # the stop's own bound, and the interpreter's exit
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {time.monotonic() - started:.0f} s after SIGTERM") from None
    finally:
        server.stop()

    media_server.trickle_delay = 0
    server.start()
    try:
        done = _wait_for(server, entry["id"], headers, ("completed", "failed", "cancelled"))
        assert done["status"] == "completed", done
        assert "job crashed" not in server.log()
    finally:
        server.stop()


def test_no_ffmpeg_outlives_a_server_killed_mid_transcode(tmp_path, media_server):
    # ffmpeg reading its input in real time: the 30 s source takes 30 s to transcode.
    slow_ffmpeg = tmp_path / "slow-ffmpeg"
    slow_ffmpeg.write_text(f'#!/bin/sh\nexec "{find_ffmpeg(None)}" -re "$@"\n')
    slow_ffmpeg.chmod(0o755)
    server, headers = _start(tmp_path, MEDIACACHE_FFMPEG=str(slow_ffmpeg))
    try:
        status, _, entry = server("POST", "/api/media/queue", headers=headers,
                                  body={"url": media_server.url("/media/long.mp3"), "profile": "ogg-opus"})  # fmt: skip
        assert status == 201, entry
        deadline = time.monotonic() + 60
        while not (transcodes := [pid for pid, cmd in _children(server.process.pid).items() if "-progress" in cmd]):
            assert time.monotonic() < deadline, "no ffmpeg transcode started"
            time.sleep(0.05)
        server.kill()
        deadline = time.monotonic() + 10
        while _running(transcodes[0]):
            assert time.monotonic() < deadline, "ffmpeg still running 10 s after the server was killed"
            time.sleep(0.05)
    finally:
        server.kill()


def test_sigterm_with_a_job_stuck_in_a_read_exits_in_time_and_the_next_start_runs_it(tmp_path, media_server):
    # The origin never answers: yt-dlp sits in a read. The stop cuts the job's connections
    # (the network guard holds them), so even this job sees its cancel within the timeout; a
    # job that still could not is left to os._exit after MEDIACACHE_STOP_TIMEOUT (app.py).
    server, headers = _start(tmp_path, MEDIACACHE_STOP_TIMEOUT="2")
    try:
        status, _, entry = server("POST", "/api/media/queue", body={"url": media_server.url("/hang")}, headers=headers)
        assert status == 201, entry
        _wait_for(server, entry["id"], headers, ("downloading",))
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(2 + 5)
        except subprocess.TimeoutExpired:
            raise AssertionError("still running 7 s after SIGTERM with MEDIACACHE_STOP_TIMEOUT=2") from None
    finally:
        server.stop()
    server.start()  # the entry was left pending (or downloading): the start runs it again
    try:
        server.wait_for_log("'resubmitted': 1")
    finally:
        server.stop()
