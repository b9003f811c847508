"""Source URL checks and normalization: schemes, playlist shapes, YouTube forms.

Plain string work only; whether a host may be reached is the network guard's question
(``sources.netguard.refuse_forbidden_target``), since answering it takes a DNS look-up.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import DomainError, shown

MAX_URL_LENGTH = 2048
YOUTUBE_HOSTS = {"youtube.com", "m.youtube.com", "music.youtube.com", "youtube-nocookie.com"}
_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
# Query parameters that only track the click; two links differing in these are the same media.
TRACKING_PARAMS = {"fbclid", "gclid", "dclid", "msclkid", "igshid", "mc_cid", "mc_eid", "ref_src", "si", "feature"}


def _is_tracking(name: str) -> bool:
    return name.lower() in TRACKING_PARAMS or name.lower().startswith("utm_")


def is_youtube_id(text: str) -> bool:
    """Whether ``text`` has the shape of a YouTube video id."""
    return _YOUTUBE_ID.fullmatch(text) is not None


def youtube_video_id(parts) -> str | None:
    """The video id of any single-video YouTube URL form, else None."""
    host = parts.hostname or ""
    host = host[4:] if host.startswith("www.") else host
    path = parts.path
    if host == "youtu.be":
        candidate = path.strip("/").split("/")[0]
    elif host in YOUTUBE_HOSTS:
        if path == "/watch":
            candidate = dict(parse_qsl(parts.query)).get("v", "")
        elif path.startswith(("/shorts/", "/embed/", "/live/", "/v/")):
            candidate = path.split("/")[2]
        else:
            return None
    else:
        return None
    return candidate if is_youtube_id(candidate) else None


def check_url(raw: object) -> str:
    """Refuse anything but an absolute http(s) URL; return it trimmed."""
    if not isinstance(raw, str) or not raw.strip():
        raise DomainError("INVALID_URL", "Pass the media page or file as url=https://…")
    url = raw.strip()
    if len(url) > MAX_URL_LENGTH:
        raise DomainError("INVALID_URL", f"The URL is longer than {MAX_URL_LENGTH} characters.")
    scheme, _, rest = url.partition(":")
    if not rest or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        raise DomainError("INVALID_URL", f"{shown(url)} is not a URL; pass an http:// or https:// link.")
    if scheme.lower() not in ("http", "https"):
        raise DomainError(
            "UNSUPPORTED_SCHEME", f"Scheme {shown(scheme)} is not allowed; only http and https URLs are fetched."
        )
    if any(char.isspace() or ord(char) < 0x20 or char == "\x7f" for char in url):
        raise DomainError("INVALID_URL", "The URL contains spaces or control characters; percent-encode them.")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise DomainError("INVALID_URL", f"{shown(url)} is not a valid URL.") from None
    if port == 0:  # nothing listens there; a connect to it fails in ways that say nothing to the client
        raise DomainError("INVALID_URL", f"{shown(url)} names port 0, which no server listens on.")
    if not parts.hostname:
        raise DomainError("INVALID_URL", f"{shown(url)} has no host.")
    return url


def playlist_shape(url: str) -> bool:
    """Whether the URL names a playlist, album or set rather than one item."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = parts.path.lower()
    if host.removeprefix("www.") in YOUTUBE_HOSTS:
        has_list = "list" in dict(parse_qsl(parts.query))
        # watch?v=ID&list=… is how YouTube shares a song from a playlist: it means the song.
        return path.startswith("/playlist") or (has_list and youtube_video_id(parts) is None)
    if host.endswith("bandcamp.com"):
        return "/album/" in path or path.rstrip("/") in ("", "/music")
    if host.endswith("soundcloud.com"):
        return "/sets/" in path
    return False


def refuse_playlist(url: str) -> None:
    """A playlist cannot be one cache entry; point the client at POST /api/collections, which queues its items."""
    if playlist_shape(url):
        raise DomainError(
            "PLAYLIST_NOT_SUPPORTED",
            "This URL is a playlist/album; POST /api/collections with the same parameters queues every item of it "
            "(or GET /api/ytdlp?url=… lists the items to queue one by one).",
        )


def normalize_url(url: str) -> str:
    """The canonical form used to recognise the same media behind different links."""
    parts = urlsplit(url)
    video_id = youtube_video_id(parts)
    if video_id:
        return f"https://www.youtube.com/watch?v={video_id}"
    host = (parts.hostname or "").lower().removeprefix("www.")
    if ":" in host:
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)))
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def fetch_url(url: str) -> str:
    """The URL to hand to yt-dlp: the client's own, less its fragment; YouTube in its canonical form."""
    parts = urlsplit(url)
    if youtube_video_id(parts):
        return normalize_url(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
