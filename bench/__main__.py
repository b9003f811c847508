"""``make bench``: run every benchmark on this machine and print one table of ratios.

``python -m bench 4 5`` runs only the numbered measurements (and records nothing).

Absolute times vary from machine to machine; ratios against floors measured in the same
run do not (much). Nothing here is asserted by the test suite.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from tests.media_server import MediaServer

from . import jobs, notify, scale, serving
from .tools import Server, make_media, rss_mb

WORKERS = 2


def print_table(rows: list[dict]) -> str:
    """Render the rows as a Markdown table (also printed)."""
    lines = ["| measurement | ours | floor | ratio | target | holds | note |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        if "skipped" in row:
            lines.append(f"| {row['name']} | | | | | skipped | {row['skipped']} |")
            continue
        lines.append(
            f"| {row['name']} | {row['measured']:.4g} | {row['floor']:.4g} | {row['ratio']:.3g} | {row['target']} "
            f"| {'yes' if row['ok'] else 'NO'} | {row.get('note', '')} |"
        )
    table = "\n".join(lines)
    print(table)
    return table


def main(only: set[str]) -> int:
    """Run everything (or the numbered measurements in ``only``); write the table to bench/last-run.md."""

    def wanted(number: str) -> bool:
        return not only or number in only

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="mediacache-bench-") as tmp:
        tmp_path = Path(tmp)
        print("generating media…", flush=True)
        make_media(tmp_path / "origin")
        origin = MediaServer(tmp_path / "origin").start()
        try:
            with Server(tmp_path / "server", MEDIACACHE_WORKERS=str(WORKERS)) as server:
                idle = rss_mb(server.pid)
                if wanted("1") or wanted("3"):
                    print("1. job overhead…", flush=True)
                    overhead = jobs.job_overhead(server, origin, str(tmp_path / "server" / "instance"))
                    rows += overhead if wanted("1") else []
                if wanted("2"):
                    print("2. remux…", flush=True)
                    rows.append(jobs.remux_fast_path(server, origin))
                if wanted("3"):
                    print("3. parallel…", flush=True)
                    rows.append(jobs.parallel_jobs(server, origin, overhead[0]["measured"], WORKERS))
                if wanted("6"):
                    print("6. duplicate storm…", flush=True)
                    rows.append(jobs.duplicate_storm(server, origin))
                if wanted("8"):
                    print("8. time to ready…", flush=True)
                    rows.append(jobs.time_to_ready(server, origin))
                if wanted("10"):
                    print("10. completion → client knows…", flush=True)
                    rows += notify.completion_to_client(server, origin)
                    print("11. normalized job…", flush=True)
                    rows.append(jobs.normalized_job(server, origin))
                if wanted("4"):
                    print("4. poll path…", flush=True)
                    done = server.ready(url=origin.url("/media/song-31.mp3"))
                    rows += serving.poll_path(server, done["id"])
                if wanted("5"):
                    print("5. file serving…", flush=True)
                    rows += serving.file_serving(server, tmp_path / "server", origin)
                    rows += serving.round_start(server, tmp_path / "server", origin)
                if wanted("9"):
                    after = rss_mb(server.pid)
                    rows.append({"name": "9. memory: resident MiB after the runs (idle in note)", "measured": after,
                                 "floor": 120, "ratio": after / 120, "target": "≤ 120 MiB", "ok": after <= 120,
                                 "note": f"idle {idle:.0f} MiB"})  # fmt: skip
        finally:
            origin.stop()
    if wanted("7"):
        print("7. scale…", flush=True)
        rows += scale.bookkeeping_scale()
    rows.sort(key=lambda row: row["name"])
    header = (f"{datetime.date.today().isoformat()} on {platform.node() or 'this machine'}: {os.cpu_count()} cores, "
              f"Python {platform.python_version()}, {platform.machine()}")  # fmt: skip
    print("\n" + header)
    table = print_table(rows)
    if not only:  # a partial run is for looking, not for the record
        Path(__file__).with_name("last-run.md").write_text(f"{header}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main(set(sys.argv[1:]))
    print(f"\nbench took {time.monotonic() - started:.0f} s")
    sys.exit(code)
