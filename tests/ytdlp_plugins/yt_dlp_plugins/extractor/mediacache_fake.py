"""A yt-dlp plugin extractor for the tests: each URL plays one way a real site fails, with yt-dlp's own
exception types and the messages yt-dlp and YouTube really produce, so failure handling is driven offline.

URLs: ``<media server>/fake/<scenario>[-<tag>]``; the tag only makes URLs distinct (one entry each).
Loaded by yt-dlp's plugin mechanism: tests/conftest.py puts tests/ytdlp_plugins on sys.path.
"""

import collections
import socket
import sys
import threading
import types

from yt_dlp.extractor.common import InfoExtractor
from yt_dlp.utils import ExtractorError, UnsupportedError

BOT_CHECK = (
    "Sign in to confirm you\u2019re not a bot. Use --cookies-from-browser or --cookies for the authentication. "
    "See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass "
    "cookies. Also see  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies  for tips on "
    "effectively exporting YouTube cookies"
)
NO_JS_RUNTIME = (
    "No supported JavaScript runtime could be found. Only deno is enabled by default; to use another runtime add  "
    "--js-runtimes RUNTIME[:PATH]  to your command/config. YouTube extraction without a JS runtime has been "
    "deprecated, and some formats may be missing. See  https://github.com/yt-dlp/yt-dlp/wiki/EJS  for details on "
    "installing one"
)
CHALLENGE_FAILED = (
    "n challenge solving failed: Some formats may be missing. Ensure you have a supported JavaScript runtime and "
    "challenge solver script distribution installed. Review any warnings presented before this message. For more "
    "details, refer to  https://github.com/yt-dlp/yt-dlp/wiki/EJS"
)
POT_UNREACHABLE = (
    'Error fetching PO Token from "bgutil:http" provider: PoTokenProviderError(\'Error reaching GET '
    "http://127.0.0.1:4416/ping (caused by TransportError('[Errno 111] Connection refused'))')"
)

# What the tests watch and steer: calls per URL id, extractions in progress, and a gate "hold" waits on.
# yt-dlp may import this file again (its plugin loader runs anew when its plugin settings change) while
# the service keeps the extractor class of the first import: the state lives once, outside the module.
state = sys.modules.get("mediacache_fake_state")
if state is None:
    state = sys.modules["mediacache_fake_state"] = types.ModuleType("mediacache_fake_state")
    state.calls = collections.Counter()
    state.active = state.max_active = 0
    state.release = threading.Event()
    state.lock = threading.Lock()


def reset():
    state.calls.clear()
    state.active = state.max_active = 0
    state.release.clear()


state.reset = reset


class MediacacheFakeSiteIE(InfoExtractor):
    IE_NAME = "fakesite"
    _VALID_URL = r"https?://127\.0\.0\.1:\d+/fake/(?P<id>[\w.-]+)"

    def _real_extract(self, url):
        video_id = self._match_id(url)
        scenario, _, tag = video_id.partition("-")
        origin = url.split("/fake/")[0]
        state.calls[video_id] += 1
        if scenario == "hold":
            with state.lock:
                state.active += 1
                state.max_active = max(state.max_active, state.active)
            try:
                state.release.wait(60)
            finally:
                with state.lock:
                    state.active -= 1
            return self._ok(video_id, origin)
        if scenario == "flaky":  # flaky-<N>[-...]: the bot check N times, then it works
            if state.calls[video_id] <= int(tag.split("-")[0]):
                raise ExtractorError(BOT_CHECK, expected=True, video_id=video_id, ie=self.IE_NAME)
            return self._ok(video_id, origin)
        if scenario == "ok":
            return self._ok(video_id, origin)
        if scenario == "live":
            return {**self._ok(video_id, origin), "is_live": True, "live_status": "is_live"}
        if scenario == "forbidden":  # the media host refuses the (signed) media URL
            return {**self._ok(video_id, origin), "url": f"{origin}/status/403"}
        if scenario == "ratelimit":
            self._download_webpage(f"{origin}/status/429", video_id)
        if scenario == "network":
            with socket.socket() as probe:  # a port nobody listens on
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            self._download_webpage(f"http://127.0.0.1:{port}/", video_id)
        if scenario == "unsupported":
            raise UnsupportedError(url)
        if scenario == "geo":
            self.raise_geo_restricted("The uploader has not made this video available in your country", ["US"])
        if scenario == "drm":
            self.report_drm(video_id)
        if scenario == "broken":  # what a page change does to an old extractor
            self._search_regex(r"var ytInitialData = ({.+?});", "<html></html>", "yt initial data")
        if scenario == "nojs":
            self.report_warning(NO_JS_RUNTIME)
            self.raise_no_formats("Requested format is not available", expected=True, video_id=video_id)
        if scenario == "challenge":
            self.report_warning(CHALLENGE_FAILED, video_id)
            self.raise_no_formats("Requested format is not available", expected=True, video_id=video_id)
        if scenario == "pot":
            self._downloader.report_warning(POT_UNREACHABLE)
            raise ExtractorError(BOT_CHECK, expected=True, video_id=video_id, ie=self.IE_NAME)
        reasons = {
            "private": "Private video. Sign in if you've been granted access to this video",
            "removed": "This video has been removed by the uploader",
            "terminated": "This video is no longer available because the YouTube account associated with this "
            "video has been terminated.",
            "age": "Sign in to confirm your age. This video may be inappropriate for some users.",
            "upcoming": "This live event will begin in 3 hours.",
            "bot": BOT_CHECK,
            "reload": "The page needs to be reloaded.",
        }
        raise ExtractorError(reasons[scenario], expected=True, video_id=video_id, ie=self.IE_NAME)

    def _ok(self, video_id, origin):
        return {"id": video_id, "title": f"Fake {video_id}", "url": f"{origin}/media/tone.mp3", "ext": "mp3"}
