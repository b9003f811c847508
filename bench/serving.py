"""HTTP benchmarks: the poll path against WSGI and Flask floors, file serving and a round start against nginx."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.helpers import http

from .burst import Round, hold_idle, percentile, run_round
from .tools import Server, ensure_debian_tool, median, start_floor, start_nginx, wrk


def poll_path(server: Server, media_id: str, seconds: int = 10) -> list[dict]:
    """GET /api/media/<id> with a bearer token at 1, 16 and 64 keep-alive clients."""
    if ensure_debian_tool("wrk", "wrk") is None:
        return [{"name": "4. poll path", "skipped": "wrk is not available"}]
    url = f"{server.live.base}/api/media/{media_id}"
    body = json.dumps(http("GET", url, headers=server.headers)[2]).encode()
    floors = {}
    # wsgi-stock, the bare callable on waitress as released, shows what mediacache.patches.waitress changes;
    # wsgi-loop, the bare callable answered on the main loop, is the ceiling for polls answered there.
    kinds = (("wsgi", (1, 16, 64)), ("flask", (1, 16, 64)), ("wsgi-stock", (64,)), ("wsgi-loop", (1, 16, 64)))
    for kind, counts in kinds:
        process, base = start_floor(kind, body)
        try:
            target = f"{base}/api/media/{media_id}"
            # The same request, bearer token included: parsing it is waitress's work, not ours.
            floors[kind] = {clients: wrk(target, clients, seconds, server.headers) for clients in counts}
        finally:
            process.terminate()
            process.wait()
    ours = {clients: wrk(url, clients, seconds, server.headers) for clients in (1, 16, 64)}
    rows = []
    for clients in (1, 16, 64):
        mine, flask, bare = ours[clients], floors["flask"][clients], floors["wsgi"][clients]
        ratio = mine.requests_per_second / flask.requests_per_second
        target, ok = ("≥ 0.80", ratio >= 0.8) if clients == 16 else ("", True)
        loop = floors["wsgi-loop"][clients]
        note = f"; bare WSGI on the main loop {loop.requests_per_second:.0f} req/s, p99 {loop.p99_ms:.1f} ms"
        if clients == 64:
            target, ok = "p99 ≤ 20 ms", mine.p99_ms <= 20
            stock = floors["wsgi-stock"][64]
            note += f"; bare WSGI on stock waitress {stock.requests_per_second:.0f} req/s, p99 {stock.p99_ms:.1f} ms"
        rows.append({
            "name": f"4. poll path, {clients} client(s): req/s vs one-route Flask",
            "measured": mine.requests_per_second, "floor": flask.requests_per_second, "ratio": ratio,
            "target": target, "ok": ok,
            "note": f"p50 {mine.p50_ms:.1f} ms, p99 {mine.p99_ms:.1f} ms; Flask p99 {flask.p99_ms:.1f} ms; "
                    f"bare WSGI {bare.requests_per_second:.0f} req/s, p99 {bare.p99_ms:.1f} ms{note}",
        })  # fmt: skip
    return rows


def file_serving(server: Server, workdir: Path, origin, seconds: int = 10) -> list[dict]:
    """A ~4 MiB file at 16 clients (whole and ranged), MiB/s against nginx on the same file."""
    if ensure_debian_tool("wrk", "wrk") is None:
        return [{"name": "5. file serving", "skipped": "wrk is not available"}]
    done = server.ready(url=origin.url("/media/big.mp3"), profile="mp3", bitrate="320k")
    nginx = start_nginx(workdir / "static_cache", workdir / "nginx")
    if nginx is None:
        return [{"name": "5. file serving", "skipped": "nginx is not available here"}]
    process, nginx_base = nginx
    # Waitress itself, serving the same bytes with no application at all: the most any WSGI app gets here.
    size_mib = done["size_bytes"] / 1024**2
    rows = []
    ceiling_process, ceiling_base = start_floor("file", http("GET", server.live.base + done["path"])[2])
    try:
        for label, headers in (("whole file", {}), ("Range 1 MiB", {"Range": "bytes=1048576-2097151"})):
            # Each server's best of two interleaved runs: nginx alone has varied from 1,900 to
            # 3,100 MiB/s between runs here, and one unlucky run should not decide the ratio.
            bases = (server.live.base, nginx_base, ceiling_base)
            runs: dict[str, list] = {base: [] for base in bases}
            for _ in range(2):
                for base in bases:
                    runs[base].append(wrk(base + done["path"], 16, seconds, headers))
            mine, theirs, ceiling = (max(runs[base], key=lambda run: run.mib_per_second) for base in bases)
            ratio = mine.mib_per_second / theirs.mib_per_second
            rows.append({
                "name": f"5. file serving, {size_mib:.1f} MiB, 16 clients, {label} (MiB/s vs nginx)",
                "measured": mine.mib_per_second, "floor": theirs.mib_per_second, "ratio": ratio,
                "target": "≥ 0.50", "ok": ratio >= 0.5,
                "note": f"waitress alone (bare WSGI, its file wrapper): {ceiling.mib_per_second:.0f} MiB/s, "
                        f"{ceiling.mib_per_second / theirs.mib_per_second:.2f}× nginx",
            })  # fmt: skip
    finally:
        for floor_process in (process, ceiling_process):
            floor_process.terminate()
            floor_process.wait()
    return rows


ROUND_CLIENTS, ROUND_IDLE, ROUNDS = 256, 500, 3


def round_start(server: Server, workdir: Path, origin) -> list[dict]:
    """A round start: 256 clients fetch the same ~4 MiB file at once while 500 idle connections are held.

    Each server gets the same bursts, interleaved, each with its own 500 idle connections held
    (a browser keeping its connection between requests). MiB/s is a round's bytes over the time
    to the last byte of the last answer; p99 is over every request of every round.
    """
    done = server.ready(url=origin.url("/media/big.mp3"), profile="mp3", bitrate="320k")
    name = (f"5. round start, {done['size_bytes'] / 1024**2:.1f} MiB, {ROUND_CLIENTS} clients at once, "
            f"{ROUND_IDLE} idle held (MiB/s vs nginx)")  # fmt: skip
    nginx = start_nginx(workdir / "static_cache", workdir / "nginx-round")
    if nginx is None:
        return [{"name": name, "skipped": "nginx is not available here"}]
    process, nginx_base = nginx
    rounds: dict[str, list[Round]] = {"ours": [], "nginx": []}
    try:
        for _ in range(ROUNDS):
            for label, base, pid in (("ours", server.live.base, server.pid), ("nginx", nginx_base, None)):
                before = _descriptors(pid) if pid else 0
                held = hold_idle(base, ROUND_IDLE)
                try:
                    deadline = time.monotonic() + 30
                    while pid and _descriptors(pid) < before + ROUND_IDLE and time.monotonic() < deadline:
                        time.sleep(0.01)  # until accepted by the server, not waiting in the kernel's backlog
                    rounds[label].append(run_round(base + done["path"], ROUND_CLIENTS))
                finally:
                    for sock in held:
                        sock.close()
    finally:
        process.terminate()
        process.wait()
    rates = {label: median(r.body_bytes / r.seconds / 1024**2 for r in runs) for label, runs in rounds.items()}
    p99 = {label: percentile([ms for r in runs for ms in r.latencies_ms], 0.99) for label, runs in rounds.items()}
    failures = {label: sum(r.failures for r in runs) for label, runs in rounds.items()}
    ratio = rates["ours"] / rates["nginx"]
    return [{
        "name": name,
        "measured": rates["ours"], "floor": rates["nginx"], "ratio": ratio,
        "target": "≥ 0.50, all answered", "ok": ratio >= 0.5 and failures["ours"] == 0,
        "note": f"median of {ROUNDS} rounds; p99 {p99['ours']:.0f} ms (nginx {p99['nginx']:.0f} ms); "
                f"unanswered {failures['ours']} of {ROUNDS * ROUND_CLIENTS} (nginx {failures['nginx']})",
    }]  # fmt: skip


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
