"""What the benchmarks stand on: media, the origin, the server, wrk, nginx, timing helpers."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mediacache.sources.ffmpeg import find_ffmpeg
from tests.helpers import ADMIN_PASSWORD, LiveServer, auth_header, free_port, http

ROOT = Path(__file__).resolve().parent.parent


def ensure_debian_tool(binary: str, package: str) -> str | None:
    """The tool's path, installing the Debian package when we may; None with a printed reason if not."""
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(f"  ({binary} not installed and cannot install {package} without root and apt-get)")
        return None
    result = subprocess.run(["apt-get", "install", "-y", "-q", package], capture_output=True, text=True,
                            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip
    if result.returncode != 0:
        print(f"  (apt-get install {package} failed: {result.stderr.strip()[-200:]})")
        return None
    return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin")


def make_media(folder: Path, seconds: int = 180, copies: int = 42) -> None:
    """Long tagged sources: mp3 copies for jobs, a webm/opus, and a 192k mp3 of about 4 MiB."""
    ffmpeg = find_ffmpeg(None)
    folder.mkdir(parents=True, exist_ok=True)
    tags = ["-metadata", "title=Bench Song", "-metadata", "artist=Bench Artist", "-metadata", "album=Bench"]
    sources = {
        "song.mp3": ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-ac", "2",
                     "-c:a", "libmp3lame", "-b:a", "128k", *tags],
        "song.webm": ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-ac", "2",
                      "-c:a", "libopus", "-b:a", "96k", *tags],
        "big.mp3": ["-f", "lavfi", "-i", f"anoisesrc=duration={seconds}:amplitude=0.3", "-ac", "2",
                    "-c:a", "libmp3lame", "-b:a", "192k", *tags],
    }  # fmt: skip
    for name, args in sources.items():
        if not (folder / name).exists():
            subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args, str(folder / name)], check=True)
    for index in range(copies):
        for base in ("song.mp3", "song.webm"):
            copy = folder / f"{Path(base).stem}-{index}{Path(base).suffix}"
            if not copy.exists():
                shutil.copyfile(folder / base, copy)


class Server:
    """mediacache itself, started as a user would, with a token ready."""

    def __init__(self, workdir: Path, **env: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.live = LiveServer(workdir, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD, MEDIACACHE_ALLOW_PRIVATE_URLS="true",
                               MEDIACACHE_QUEUE_RATE_LIMIT="100000 per minute",
                               MEDIACACHE_MAX_PENDING_PER_USER="0", **env)  # fmt: skip

    def __enter__(self) -> Server:
        self.live.start()
        body = self.live("POST", "/api/token", headers=self._login(), body={"duration_hours": 24})[2]
        self.token = body["token"]
        self.headers = auth_header(self.token)
        return self

    def _login(self) -> dict[str, str]:
        return auth_header(
            self.live("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})[2]["token"]
        )

    def __exit__(self, *exc) -> None:
        self.live.stop()

    @property
    def pid(self) -> int:
        return self.live.process.pid

    def queue(self, **params):
        return self.live("POST", "/api/media/queue", body=params, headers=self.headers)

    def wait(self, media_id: str, interval: float = 0.05, timeout: float = 600) -> dict:
        """Poll every ``interval`` like a game server, until the job ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, _, body = self.live("GET", f"/api/media/{media_id}", headers=self.headers)
            if body["status"] in ("completed", "failed", "cancelled"):
                return body
            time.sleep(interval)
        raise TimeoutError(media_id)

    def time_job(self, poll_interval: float = 0.05, **params) -> float:
        """Seconds from the queue call to the poll that sees the entry completed (then, untimed, until it settles)."""
        started = time.perf_counter()
        status, _, body = self.queue(**params)
        assert status == 201, body
        done = self.wait(body["id"], poll_interval)
        assert done["status"] == "completed", done["error"]
        elapsed = time.perf_counter() - started
        self.settle(body["id"])
        return elapsed

    def ready(self, **params) -> dict:
        """Queue, wait for the entry and its loudness (untimed: the file a later measurement needs)."""
        done = self.wait(self.queue(**params)[2]["id"])
        self.settle(done["id"])
        return done

    def settle(self, media_id: str, timeout: float = 600) -> None:
        """Wait until an audio entry's loudness is measured in full.

        A served file's true peak (a copy's whole loudness) is measured after completion, on CPU
        time the jobs leave over: the next timed run, ours or a floor's, must not share the machine with it.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            loudness = self.live("GET", f"/api/media/{media_id}", headers=self.headers)[2]["metadata"]["loudness"]
            if loudness is not None and not loudness.get("true_peak_pending"):
                return
            time.sleep(0.05)
        raise TimeoutError(media_id)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def median(values) -> float:
    return statistics.median(values)


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    mib_per_second: float


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_SIZES = {"B": 1 / 1024**2, "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0}


def wrk(url: str, connections: int, seconds: int = 10, headers: dict[str, str] | None = None) -> WrkResult:
    """Run wrk with keep-alive connections and parse its report."""
    command = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * _UNITS[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    value, unit = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", output).groups()
    return WrkResult(rate, latency("50"), latency("99"), float(value) * _SIZES[unit])


def start_floor(kind: str, body: bytes) -> tuple[subprocess.Popen, str]:
    """A floor server (bare WSGI or one-route Flask) on a free port."""
    port = free_port()
    body_file = Path(tempfile.mkstemp(suffix=".json")[1])
    body_file.write_bytes(body)
    process = subprocess.Popen([sys.executable, "-m", "bench.floors", kind, str(port), str(body_file)], cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            http("GET", base + "/api/media/x", timeout=1)
            return process, base
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{kind} floor did not start")


NGINX_CONF = """
worker_processes 2;
daemon off;
user root;
error_log {prefix}/error.log;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types {{ audio/mpeg mp3; }}
    server {{
        listen 127.0.0.1:{port};
        location /cache/ {{ alias {root}/; }}
    }}
}}
"""


def start_nginx(static_root: Path, workdir: Path) -> tuple[subprocess.Popen, str] | None:
    """nginx serving the same files from the same disk, or None if it cannot run here."""
    binary = ensure_debian_tool("nginx", "nginx-light")
    if binary is None:
        return None
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=workdir, port=port, root=static_root))
    process = subprocess.Popen([binary, "-c", str(conf), "-p", str(workdir)], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    if process.poll() is not None:
        print(f"  (nginx failed to start: {(workdir / 'error.log').read_text(errors='replace')[-300:]})")
        return None
    return process, f"http://127.0.0.1:{port}"
