"""yt-dlp's failures as stable error codes, each in one of three classes that decide what happens next.

- permanent: the entry fails at once; asking again will not help (private, removed, geo-blocked, ...).
- transient: the site pushed back or the network hiccupped; the job is retried with backoff.
- infrastructure: this server is missing something (JS runtime, challenge solver, PO-token provider,
  a current yt-dlp); the entry fails at once and /api/health turns degraded until it works again.

yt-dlp reports failures as text (the site's own words, or its extractor's); the rules below
match the messages yt-dlp and YouTube actually produce. README's "YouTube" section lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from yt_dlp.networking.exceptions import RequestError
from yt_dlp.version import __version__

PERMANENT = "permanent"
TRANSIENT = "transient"
INFRASTRUCTURE = "infrastructure"


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    code: str
    kind: str
    # A specific verdict about the media itself: a warning about this server's set-up does not override it.
    specific: bool = True


def _rule(pattern: str, code: str, kind: str = PERMANENT, specific: bool = True) -> Rule:
    return Rule(re.compile(pattern, re.I), code, kind, specific)


# What yt-dlp's warnings say when this server, not the media, is the problem. yt-dlp goes on
# after them and then fails with something vaguer ("Requested format is not available", a bot check).
INFRASTRUCTURE_RULES = [
    _rule(r"No supported JavaScript runtime", "JS_RUNTIME_MISSING", INFRASTRUCTURE),
    _rule(r"(?:n challenge|signature) solving failed|nsig extraction failed", "CHALLENGE_FAILED", INFRASTRUCTURE),
    _rule(r"Error fetching PO Token from|PO Token provider .*(?:unreachable|unavailable)",
          "POT_PROVIDER_UNAVAILABLE", INFRASTRUCTURE),
]  # fmt: skip

# First match wins: the order matters ("503 Service Unavailable" is not the media missing).
RULES = [
    _rule(r"No space left on device|Disk quota exceeded", "STORAGE_FULL"),
    _rule(r"is not a valid URL", "INVALID_URL"),
    _rule(r"Unsupported URL|No suitable extractor", "UNSUPPORTED_URL"),
    *INFRASTRUCTURE_RULES,
    # "Sign in to confirm you’re not a bot" (YouTube writes a typographic apostrophe).
    _rule(r"confirm you.?re not a bot", "BOT_CHECK", TRANSIENT, specific=False),
    _rule(r"The page needs to be reloaded", "PAGE_RELOAD_REQUIRED", TRANSIENT, specific=False),
    _rule(r"HTTP Error 429", "UPSTREAM_RATE_LIMITED", TRANSIENT, specific=False),
    _rule(r"private video|this video is private|is private", "ACCESS_DENIED_PRIVATE"),
    _rule(r"age[- ]restrict|confirm your age|inappropriate for some users", "ACCESS_DENIED_AGE_RESTRICTED"),
    _rule(r"geo[- ]?restrict|not available (?:from|in) your (?:location|country)|"
          r"not made this video available in your country", "GEO_BLOCKED"),
    _rule(r"DRM protected", "DRM_PROTECTED"),
    _rule(r"live event will begin|Premieres in \d|is (?:currently )?live\b|live streams? (?:is|are) not",
          "LIVE_STREAM"),
    # The media host refusing a signed URL is usually a throttle or an expired signature.
    _rule(r"HTTP Error 403", "UPSTREAM_FORBIDDEN", TRANSIENT, specific=False),
    _rule(r"timed? ?out|timeout", "UPSTREAM_TIMEOUT", specific=False),
    _rule(r"Connection (?:refused|reset|aborted)|Name or service not known|Temporary failure in name resolution|"
          r"nodename nor servname|Network is unreachable|No route to host|Remote end closed connection|"
          r"IncompleteRead|EOF occurred in violation", "NETWORK_ERROR", TRANSIENT, specific=False),
    _rule(r"HTTP Error 5\d\d", "UPSTREAM_ERROR", specific=False),
    _rule(r"HTTP Error (?:404|410)|has been removed|has been terminated|no longer available|does not exist|"
          r"video (?:is )?unavailable", "MEDIA_UNAVAILABLE"),
    # What a broken extractor or a missing solver ends in: vague on its own.
    _rule(r"not available|unavailable|no video formats|Requested format is not available",
          "MEDIA_UNAVAILABLE", specific=False),
]  # fmt: skip

# Failures an out-of-date extractor typically ends in (YouTube changes its pages; yt-dlp follows).
_EXTRACTOR_BREAKAGE = re.compile(
    r"Unable to extract|Requested format is not available|no video formats|please report this issue|"
    r"Unable to download (?:API page|player)|Failed to parse JSON", re.I,
)  # fmt: skip
OUTDATED = Rule(_EXTRACTOR_BREAKAGE, "YTDLP_OUTDATED", INFRASTRUCTURE)
FALLBACK = Rule(re.compile(""), "UPSTREAM_ERROR", PERMANENT, specific=False)


@dataclass(frozen=True)
class Verdict:
    code: str
    message: str
    kind: str
    extractor: str | None


def clean_message(text: str) -> str:
    """yt-dlp's reason without "ERROR:" and its "(caused by ...)" trace."""
    text = re.sub(r"^ERROR:\s*", "", text).strip()
    return re.sub(r"\s*\(caused by .*$", "", text, flags=re.S)


_EXTRACTOR_PREFIX = re.compile(r"^\[([\w:.-]+)\]")


def site_of(extractor_name: str | None) -> str | None:
    """The site an extractor belongs to: ``youtube`` for youtube, youtube:tab, ...; lower case."""
    return extractor_name.split(":")[0].lower() if extractor_name else None


def classify(error: str, warnings: list[str] | tuple[str, ...] = (), *, outdated: bool = False) -> Verdict:
    """The code, class and message for a yt-dlp failure, given the warnings it printed on the way."""
    text = clean_message(error)
    prefix = _EXTRACTOR_PREFIX.match(text)
    extractor = site_of(prefix.group(1)) if prefix else None
    rule = next((rule for rule in RULES if rule.pattern.search(text)), FALLBACK)
    if not rule.specific:
        for warning in warnings:
            cause = next((rule for rule in INFRASTRUCTURE_RULES if rule.pattern.search(warning)), None)
            if cause is not None:
                return Verdict(cause.code, f"{clean_message(warning)[:300]} — then: {text}"[:500],
                               cause.kind, extractor)  # fmt: skip
        if outdated and (rule is FALLBACK or OUTDATED.pattern.search(text)):
            message = f"yt-dlp is out of date (update it: flask update-ytdlp); it failed with: {text}"
            return Verdict(OUTDATED.code, message[:500], OUTDATED.kind, extractor)
    message = text[:500] or "The source site returned an error."
    return Verdict(rule.code, message, rule.kind, extractor)


# yt-dlp lets a request it could not even make escape as a bare RequestError (not a DownloadError):
# an origin's redirect to a scheme no handler serves (file:, gopher:, data:) or to a URL that does not
# parse ("http://[::1"). That is the origin's doing, so it is a mapped failure, never a 500.
UNUSABLE_REQUEST = RequestError
_SCHEME_REFUSED = re.compile(r"No connection adapters|Unsupported url scheme|unsupported scheme|"
                             r"No suitable (?:request )?handler", re.I)  # fmt: skip


def request_failure(exc: RequestError) -> Verdict:
    """The verdict for a request yt-dlp could not make (see UNUSABLE_REQUEST)."""
    reason = clean_message(str(exc))[:300] or type(exc).__name__
    if _SCHEME_REFUSED.search(reason):
        return Verdict("URL_NOT_ALLOWED", f"The source led to a URL this server does not fetch: {reason}",
                       PERMANENT, None)  # fmt: skip
    return Verdict("UPSTREAM_ERROR", f"The source led to a URL that cannot be fetched: {reason}", PERMANENT, None)


def ytdlp_release_date() -> date | None:
    """The date in yt-dlp's version (2026.10.26[.x]), or None for a build without one."""
    match = re.match(r"(\d{4})\.(\d{1,2})\.(\d{1,2})", __version__, re.ASCII)
    return date(*map(int, match.groups())) if match else None


def ytdlp_age_days() -> int | None:
    """Days since the installed yt-dlp was released."""
    released = ytdlp_release_date()
    return None if released is None else (datetime.now(UTC).date() - released).days


def ytdlp_outdated(max_age_days: int) -> bool:
    """Whether yt-dlp is older than the configured limit (0 disables the check)."""
    age = ytdlp_age_days()
    return bool(max_age_days) and age is not None and age > max_age_days
