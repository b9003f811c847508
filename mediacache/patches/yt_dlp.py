"""yt-dlp: the changes the service makes to it, and the versions they were tested with.

- ``NETWORK_GUARD`` (security): ``install_network_guard`` wraps the connection factories of
  yt-dlp's request handlers (``networking._helper``, ``_urllib``, ``_websockets``,
  ``_requests``, urllib3's) with sources/netguard.py's policy check, and bounds its urllib
  handler's decompression. Outside its range nothing is fetched: ``guard_self_check``
  (sources/ytdlp_downloader.py) reports the problem, downloads and look-ups answer
  NETWORK_GUARD_FAILED and /api/health says why.
- ``TLS_CONTEXTS``: ``networking.common.make_ssl_context`` cached (sources/ytdlp_downloader.py).
- ``EXTRACTOR_LINEUP``: the extractor list read once from ``YoutubeDL._ies`` and added to
  each new downloader (sources/ytdlp_downloader.py). Outside the range each downloader builds its own.
- ``CHILDREN_DIE_WITH_SERVICE``: every process yt-dlp starts through ``utils.Popen`` (ffmpeg
  for merges and fix-ups, the JavaScript runtime) gets the ``preexec_fn`` the service gives
  its own ffmpeg (sources/processes.py): killed when the service dies. Outside the range a
  killed service may leave such a process running until it ends on its own.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable
from functools import lru_cache

import yt_dlp
from yt_dlp.networking import _helper, _urllib, common

from . import declare

TESTED = ">=2026.10.26,<2026.11"

NETWORK_GUARD = declare("yt-dlp network guard", "yt-dlp", TESTED, security=True)
TLS_CONTEXTS = declare("yt-dlp shared TLS contexts", "yt-dlp", TESTED)
EXTRACTOR_LINEUP = declare("yt-dlp extractor lineup", "yt-dlp", TESTED)
CHILDREN_DIE_WITH_SERVICE = declare("yt-dlp child processes die with the service", "yt-dlp", TESTED)


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


def install_network_guard(
    guard: Callable[[Callable], Callable], check_response: Callable, inflate: Callable[[bytes, int], bytes]
) -> None:
    """Send every connection yt-dlp's handlers open through ``guard(connect)``; bound urllib's body decoding.

    urllib and websockets connect through ``networking._helper.create_connection`` (imported
    by name into each module), requests through ``urllib3.util.connection.create_connection``.
    yt-dlp's urllib handler reads a compressed body whole and inflates it in one call:
    ``check_response`` sees each response first (to cap its reads), ``inflate(data, wbits)``
    replaces the one-call decoders, and brotli (no bounded one-call decoder) is not asked for.
    """
    guarded = guard(_helper.create_connection)
    _helper.create_connection = guarded
    _urllib.create_connection = guarded
    with contextlib.suppress(ImportError):
        from yt_dlp.networking import _websockets  # noqa: PLC0415 — optional: needs the websockets package

        _websockets.create_connection = guarded
    with contextlib.suppress(ImportError):
        import urllib3.util.connection  # noqa: PLC0415 — optional: comes with requests
        from yt_dlp.networking import _requests  # noqa: PLC0415 — optional: needs the requests package

        _requests.create_connection = guarded  # its SOCKS proxy path
        urllib3.util.connection.create_connection = guard(urllib3.util.connection.create_connection)

    handler = _urllib.HTTPHandler
    original_response = handler.http_response

    def http_response(self, req, resp):
        check_response(resp)
        return original_response(self, req, resp)

    def deflate(data: bytes) -> bytes:
        if not data:
            return data
        try:
            return inflate(data, -zlib.MAX_WBITS)
        except zlib.error:
            return inflate(data, zlib.MAX_WBITS)

    def gz(data: bytes) -> bytes:
        return inflate(data, zlib.MAX_WBITS | 16) if data else data

    handler.http_response = handler.https_response = http_response
    handler.deflate, handler.gz = staticmethod(deflate), staticmethod(gz)
    if "br" in _urllib.SUPPORTED_ENCODINGS:
        _urllib.SUPPORTED_ENCODINGS.remove("br")


def children_die_with_service(preexec: Callable[[], Callable[[], None] | None]) -> None:
    """Start yt-dlp's child processes with ``preexec()`` run in the child before exec (unless it sets its own).

    yt-dlp starts ffmpeg itself to merge video and audio, and the JavaScript runtime for
    YouTube's challenges, both through ``yt_dlp.utils.Popen``. Without this, a service killed
    by SIGKILL or the OOM killer leaves them running, holding CPU and files in the work folder.
    """
    popen = yt_dlp.utils.Popen
    original = popen.__init__
    if getattr(original, "dies_with_service", False):
        return

    def __init__(self, args, *remaining, **kwargs):
        if kwargs.get("preexec_fn") is None:
            kwargs["preexec_fn"] = preexec()
        original(self, args, *remaining, **kwargs)

    __init__.dies_with_service = True
    popen.__init__ = __init__
