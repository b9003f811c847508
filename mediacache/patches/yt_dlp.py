"""yt-dlp: the changes the service makes to it, and the versions they were tested with.

- ``NETWORK_GUARD`` (security): sources/netguard.py wraps the connection factories of
  yt-dlp's request handlers (``networking._helper``, ``_urllib``, ``_websockets``,
  ``_requests``) and its urllib handler's decompression. Outside its range nothing is
  fetched: ``sources.downloader.guard_self_check`` reports the problem, downloads and
  look-ups answer NETWORK_GUARD_FAILED and /api/health says why.
- ``TLS_CONTEXTS``: ``networking.common.make_ssl_context`` cached (sources/downloader.py).
- ``EXTRACTOR_LINEUP``: the extractor list read once from ``YoutubeDL._ies`` and added to
  each new downloader (sources/downloader.py). Outside the range each downloader builds its own.
"""

from __future__ import annotations

from functools import lru_cache

import yt_dlp
from yt_dlp.networking import common

from . import declare

TESTED = ">=2026.10.26,<2026.11"

NETWORK_GUARD = declare("yt-dlp network guard", "yt-dlp", TESTED, security=True)
TLS_CONTEXTS = declare("yt-dlp shared TLS contexts", "yt-dlp", TESTED)
EXTRACTOR_LINEUP = declare("yt-dlp extractor lineup", "yt-dlp", TESTED)


@lru_cache(maxsize=8)
def extractor_lineup(allowed: tuple[str, ...]) -> tuple:
    """yt-dlp's extractors for these options, in its order: computed once, not on every job.

    yt-dlp rebuilds this list (an ordered set over ~1,750 extractors) in every YoutubeDL
    it constructs, which costs tens of milliseconds per job and per look-up.
    """
    reference = yt_dlp.YoutubeDL({"quiet": True, "allowed_extractors": list(allowed)})
    return tuple(reference._ies.values())


def share_tls_contexts() -> None:
    """Have yt-dlp build its TLS context once per distinct setting, not once per job.

    Every YoutubeDL makes a request handler, and every handler an SSLContext that loads the
    CA bundle: about 30 ms per job, even for a plain http:// download. A context is safe to
    share between threads. Should a yt-dlp release move this helper, jobs just take the
    slower path (and test_ytdlp says so).
    """

    original = getattr(common, "make_ssl_context", None)
    if callable(original) and not hasattr(original, "cache_info"):
        common.make_ssl_context = lru_cache(maxsize=8)(original)
