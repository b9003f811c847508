"""Which JavaScript runtime yt-dlp is given (YouTube's challenges need one), and what yt-dlp makes of it."""

from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

from yt_dlp.dependencies import yt_dlp_ejs
from yt_dlp.globals import supported_js_runtimes

_RUNTIME_KINDS = {"deno": "deno", "node": "node", "nodejs": "node", "bun": "bun", "qjs": "quickjs"}


@lru_cache(maxsize=4)
def js_runtime(configured: str | None) -> tuple[str, str] | None:
    """(yt-dlp's runtime name, path): MEDIACACHE_JS_RUNTIME, else the Deno the ``deno`` package installed."""
    if configured:
        path = shutil.which(configured) or configured
        name = Path(path).name.lower().removesuffix(".exe")
        return _RUNTIME_KINDS.get(name, "deno"), path
    try:
        import deno  # noqa: PLC0415 — optional: without the deno package yt-dlp runs without it
    except ImportError:
        return None
    try:
        return "deno", deno.find_deno_bin()
    except FileNotFoundError:
        return None


@lru_cache(maxsize=4)
def js_runtime_report(configured: str | None) -> dict[str, Any]:
    """What yt-dlp itself detects of the runtime we give it (name, version), and yt-dlp-ejs's version."""

    report: dict[str, Any] = {"runtime": None, "runtime_version": None, "ejs_version": None, "problems": []}
    if yt_dlp_ejs is None:
        report["problems"].append("yt-dlp-ejs is not installed")
    else:
        report["ejs_version"] = getattr(yt_dlp_ejs, "version", "unknown")
    runtime = js_runtime(configured)
    if runtime is None:
        report["problems"].append("no JavaScript runtime (install the deno package or set MEDIACACHE_JS_RUNTIME)")
        return report
    info = supported_js_runtimes.value[runtime[0]](path=runtime[1]).info
    report["runtime"] = runtime[0]
    if info is None:
        report["problems"].append(f"the {runtime[0]} runtime does not run")
    else:
        report["runtime_version"] = info.version
        if info.supported is False:
            report["problems"].append(f"{runtime[0]} {info.version} is too old for yt-dlp")
    return report
