"""The YoutubeDL every call runs in (``new_ydl``), and the proof that the network guard covers it.

It keeps only the request handlers the guard covers, for only the schemes it covers, and caps
what a page or manifest may bring into memory; its extractors come from the cached lineup, its
TLS contexts are shared, and the processes yt-dlp starts die with the service (patches/yt_dlp.py).
``guard_self_check`` proves at start, and before each fetch, that every handler left connects
through the guard; if not, nothing is fetched.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from typing import Any

import yt_dlp
from yt_dlp.networking.common import Request
from yt_dlp.networking.exceptions import HTTPError

from ..patches import yt_dlp as yt_dlp_patches
from . import netguard
from .jobcontrol import JobError
from .netguard import AddressPolicy
from .processes import tool_process_options
from .ytdlp_options import QuietLogger

if yt_dlp_patches.TLS_CONTEXTS.applies():
    yt_dlp_patches.share_tls_contexts()
if yt_dlp_patches.CHILDREN_DIE_WITH_SERVICE.applies():
    # The ffmpeg and JavaScript runtime yt-dlp starts die with the service, as the service's own ffmpeg does.
    yt_dlp_patches.children_die_with_service(lambda: tool_process_options().get("preexec_fn"))


class _BoundedYoutubeDL(yt_dlp.YoutubeDL):
    """A YoutubeDL whose pages and manifests (bodies read whole) stop at the budget's size limit.

    Every request of extractors and downloaders goes through ``urlopen``; the media download
    reads in blocks and is bounded by MAX_FILESIZE instead.
    """

    def urlopen(self, req):
        try:
            return netguard.cap_page_reads(super().urlopen(req))
        except HTTPError as exc:
            netguard.cap_page_reads(exc.response)  # an error page may be read too
            raise

    def build_request_director(self, handlers, preferences=None):
        """Only the request handlers the network guard covers, for only the schemes it covers."""
        covered = [handler for handler in handlers if handler.RH_KEY in netguard.GUARDED_HANDLERS]
        director = super().build_request_director(covered, preferences)
        for handler in director.handlers.values():
            handler._SUPPORTED_URL_SCHEMES = tuple(
                scheme for scheme in handler._SUPPORTED_URL_SCHEMES if scheme in netguard.GUARDED_SCHEMES
            )
        return director


def new_ydl(options: dict[str, Any]) -> yt_dlp.YoutubeDL:
    """A YoutubeDL with its extractors added from the cached lineup."""
    if not yt_dlp_patches.EXTRACTOR_LINEUP.applies():
        return _BoundedYoutubeDL(options)  # yt-dlp as released: it builds its own lineup
    ydl = _BoundedYoutubeDL(options, auto_init=False)
    for extractor in yt_dlp_patches.extractor_lineup(tuple(options["allowed_extractors"])):
        # Classes are shared safely; an instance (yt-dlp's catch-all) gets a fresh one per downloader.
        ydl.add_info_extractor(extractor if isinstance(extractor, type) else type(extractor)())
    return ydl


@lru_cache(maxsize=1)
def guard_self_check() -> str | None:
    """None if every request handler yt-dlp will use connects through the guard; else what does not.

    Each handler is sent a request to a loopback address under a policy that refuses it: the
    guard must have been asked (and refused) before any socket was opened.
    """

    if not yt_dlp_patches.NETWORK_GUARD.applies():
        return yt_dlp_patches.NETWORK_GUARD.problem()  # fail closed: nothing is fetched unguarded
    netguard._install()
    unguarded = []
    with _BoundedYoutubeDL({"quiet": True, "logger": QuietLogger()}, auto_init=False) as probe:
        handlers = probe._request_director.handlers
        if not handlers:
            return "yt-dlp has no request handler that the network guard covers"
        for key, handler in handlers.items():
            scheme = "http" if "http" in handler._SUPPORTED_URL_SCHEMES else "ws"
            policy = AddressPolicy()
            with netguard.enforced(policy), contextlib.suppress(Exception):
                handler.send(Request(f"{scheme}://127.0.0.1:9/"))
            if not policy.refused:
                unguarded.append(key)
    if unguarded:
        return f"yt-dlp's {', '.join(unguarded)} request handler connects around the network guard"
    return None


def refuse_if_unguarded() -> None:
    """Raise NETWORK_GUARD_FAILED unless ``guard_self_check`` passed: nothing is fetched around the guard."""
    problem = guard_self_check()
    if problem is not None:
        raise JobError("NETWORK_GUARD_FAILED", f"This server refuses to fetch until fixed: {problem}.")
