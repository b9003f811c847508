"""Every setting, declared once: its name (MEDIACACHE_<name> in the environment), default and parser.

Grouped by area. A setting is read from ``current_app.config[<name>]``; the parsers are in
parsers.py, the layering and the checks that span settings in loading.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .parsers import (
    non_negative,
    non_negative_float,
    parse_bool,
    parse_choice,
    parse_extractor_args,
    parse_extractor_limits,
    parse_int,
    parse_list,
    parse_loudness_target,
    parse_optional_str,
    positive,
    worker_count,
)

DAY = 86400


@dataclass(frozen=True)
class Setting:
    default: Any
    parse: Callable[[Any], Any]


# Blank lines part the areas; the formatter would remove them, hence its skip at the end.
SETTINGS: dict[str, Setting] = {
    # The server: where it listens, its folders and database, how it logs and stops.
    "HOST": Setting("127.0.0.1", str),
    "PORT": Setting(8080, positive(parse_int)),
    "THREADS": Setting(8, positive(parse_int)),
    "INSTANCE_DIR": Setting("instance", str),
    "STATIC_CACHE": Setting("static_cache", str),
    "PRIVATE_CACHE": Setting("private_cache", str),
    "DATABASE_URL": Setting(None, parse_optional_str),
    # How long a statement waits for another connection's lock (a backup, the sqlite3 shell, another
    # process) before giving up; the request then answers 503 DATABASE_BUSY with Retry-After.
    "DB_BUSY_TIMEOUT_MS": Setting(10_000, non_negative(parse_int)),
    "SECRET_KEY": Setting(None, parse_optional_str),
    "PUBLIC_URL": Setting(None, parse_optional_str),
    "EXTERNAL_ENDPOINTS": Setting([], parse_list),
    "METRICS_PUBLIC": Setting(False, parse_bool),
    "LOG_FORMAT": Setting("text", parse_choice("text", "json")),
    "SCHEDULER": Setting(True, parse_bool),
    # Seconds from SIGTERM to exit: running jobs are cancelled and left pending for the next start.
    "STOP_TIMEOUT": Setting(10, positive(parse_int)),

    # Requests and connections.
    "MAX_BODY_BYTES": Setting(1024 * 1024, positive(parse_int)),
    # Held connections (each costs a descriptor; the open-file limit is raised to fit at start):
    # seconds a connection may sit with no request, and may take to send its request headers.
    "CONNECTION_LIMIT": Setting(4096, positive(parse_int)),
    "IDLE_TIMEOUT": Setting(30, positive(parse_int)),
    "HEADER_TIMEOUT": Setting(10, positive(parse_int)),
    # Seconds a client may take to send a request's body once its headers are in (a body sent a byte
    # at a time would otherwise hold its connection for ever; bodies are at most MAX_BODY_BYTES).
    "BODY_TIMEOUT": Setting(30, positive(parse_int)),
    # Most connections one client address may hold (0: no limit). Off by default: behind a reverse
    # proxy every client has the proxy's address; set it when clients connect directly.
    "MAX_CONNECTIONS_PER_ADDRESS": Setting(0, non_negative(parse_int)),
    # Reverse proxies in front of the service (issue 14.11): how many hops of X-Forwarded-For
    # and X-Forwarded-Proto to believe. 0 believes none: the headers are anyone's to forge.
    "TRUSTED_PROXIES": Setting(0, non_negative(parse_int)),
    # Origins whose pages may call /api/* (CORS): * for any, or a comma list of https://host[:port].
    "CORS_ORIGINS": Setting(["*"], parse_list),

    # Accounts and tokens.
    "ADMIN_USERNAME": Setting("admin", str),
    "ADMIN_PASSWORD": Setting(None, parse_optional_str),
    "REGISTRATION": Setting("off", parse_choice("off", "approval", "open")),
    # scrypt by default; tests use a cheap pbkdf2 so the suite stays fast.
    "PASSWORD_HASH_METHOD": Setting("scrypt", str),
    # 8 h, as the original service: a game round outlasts 1 h, and its client renews late now and then.
    "ACCESS_TOKEN_TTL": Setting(8 * 3600, positive(parse_int)),
    "REFRESH_TOKEN_TTL": Setting(30 * DAY, positive(parse_int)),
    "MAX_TOKEN_HOURS": Setting(30 * 24, positive(parse_int)),
    # Seconds after expiry during which POST /api/token still renews the caller's own access
    # token (issue 17.1: a game client whose clock rounds to 128 s renews up to a minute late).
    "TOKEN_RENEW_GRACE": Setting(600, non_negative(parse_int)),
    "LOGIN_RATE_LIMIT": Setting("10 per minute", str),
    "REGISTER_RATE_LIMIT": Setting("20 per hour", str),

    # The cache and its jobs.
    "DEFAULT_PROFILE": Setting("mp3", str),
    "DEFAULT_TTL": Setting(3600, positive(parse_int)),
    "MAX_TTL": Setting(30 * DAY, positive(parse_int)),
    "RETENTION_DAYS": Setting(30, non_negative(parse_int)),
    "WORKERS": Setting(2, worker_count(parse_int)),
    "SWEEP_INTERVAL": Setting(60, positive(parse_int)),
    "JOB_TIMEOUT": Setting(1800, positive(parse_int)),
    # 0 disables the limit.
    "MAX_DURATION": Setting(3 * 3600, non_negative(parse_int)),
    "MAX_FILESIZE": Setting(1024**3, non_negative(parse_int)),
    "MAX_CACHE_BYTES": Setting(0, non_negative(parse_int)),
    "QUEUE_RATE_LIMIT": Setting("60 per minute", str),
    "MAX_PENDING_PER_USER": Setting(20, non_negative(parse_int)),
    # Most items one POST /api/collections may queue; a longer playlist or feed is refused (400 TOO_MANY_ITEMS).
    "MAX_COLLECTION_ITEMS": Setting(100, positive(parse_int)),
    # The loudness normalize=true brings a file to (issue 19), in LUFS.
    "LOUDNESS_TARGET": Setting(-16.0, parse_loudness_target),
    "FFMPEG": Setting(None, parse_optional_str),

    # What may be fetched.
    "ALLOW_PRIVATE_URLS": Setting(False, parse_bool),
    # CIDRs exempt from the private-address refusal, e.g. a NAS on the LAN: 192.168.1.10/32.
    "ALLOWED_NETWORKS": Setting([], parse_list),
    "ALLOWED_DOMAINS": Setting([], parse_list),
    "BLOCKED_DOMAINS": Setting([], parse_list),
    "ALLOWED_EXTRACTORS": Setting([], parse_list),
    "BLOCKED_EXTRACTORS": Setting([], parse_list),

    # yt-dlp and look-ups.
    "YTDLP_COOKIES": Setting(None, parse_optional_str),
    # The JavaScript runtime yt-dlp solves YouTube's challenges with (a path or a command name);
    # unset: the Deno binary of the ``deno`` package. PATH is never searched otherwise.
    "JS_RUNTIME": Setting(None, parse_optional_str),
    # What yt-dlp may read into memory at once (a page or manifest), and how long a look-up may take.
    "MAX_PAGE_BYTES": Setting(16 * 1024**2, positive(parse_int)),
    "LOOKUP_TIMEOUT": Setting(60, positive(parse_int)),
    # Recent /api/ytdlp answers kept in memory, counted by the size of their JSON.
    "LOOKUP_CACHE_BYTES": Setting(32 * 1024**2, non_negative(parse_int)),
    "LOOKUP_RATE_LIMIT": Setting("30 per minute", str),

    # YouTube and other real sources (issue 16): yt-dlp pass-through, failures that heal, gentleness, canaries.
    "YTDLP_EXTRACTOR_ARGS": Setting({}, parse_extractor_args),
    # Every yt-dlp request goes through this proxy (http://, https:// or socks5://).
    "YTDLP_PROXY": Setting(None, parse_optional_str),
    # The bgutil PO-token provider's HTTP server; the network guard lets exactly this address through.
    "YTDLP_POT_PROVIDER_URL": Setting(None, parse_optional_str),
    # Retries of a transient failure (bot check, 429/403 from the media host, network error).
    "RETRY_ATTEMPTS": Setting(3, non_negative(parse_int)),
    # The first retry waits about this many seconds, each next one twice as long, at most RETRY_MAX_DELAY.
    "RETRY_BASE_DELAY": Setting(30.0, non_negative_float),
    "RETRY_MAX_DELAY": Setting(3600.0, non_negative_float),
    "EXTRACTOR_LIMITS": Setting("youtube=2/1s", parse_extractor_limits),
    # yt-dlp older than this is reported (health degraded) and named as the cause of extractor breakage; 0: never.
    "YTDLP_MAX_AGE_DAYS": Setting(90, non_negative(parse_int)),
    "CANARY_URLS": Setting([], parse_list),
    "CANARY_INTERVAL": Setting(4 * 3600, positive(parse_int)),

    # Completion webhooks (issue 18): each try ends after WEBHOOK_TIMEOUT seconds; a failed one is tried again
    # WEBHOOK_RETRY_BASE_DELAY seconds later, then twice as long each time, WEBHOOK_ATTEMPTS tries in all
    # (6 tries from 120 s: the last about an hour after the first); WEBHOOK_SENDERS deliveries at once.
    "WEBHOOK_TIMEOUT": Setting(5.0, lambda value: min(60.0, max(0.1, float(value)))),
    "WEBHOOK_ATTEMPTS": Setting(6, positive(parse_int)),
    "WEBHOOK_RETRY_BASE_DELAY": Setting(120.0, non_negative_float),
    "WEBHOOK_SENDERS": Setting(4, positive(parse_int)),

    # Clients that wait to be told (issue 18): long-polls (GET /api/media/<id>?wait=N) and event
    # streams (GET /api/events) each have their own cap and their own threads, apart from THREADS.
    # Past a cap a long-poll is answered at once (with Retry-After) and a stream gets 503 STREAMS_FULL.
    "LONGPOLL_MAX_WAITERS": Setting(256, positive(parse_int)),
    "EVENTS_MAX_STREAMS": Setting(64, positive(parse_int)),
    # Streams one account may hold open at once, so one account (or its leaked tabs) cannot take every slot.
    "EVENTS_MAX_STREAMS_PER_USER": Setting(8, positive(parse_int)),
    # Seconds between heartbeat comments on an otherwise quiet stream (proxies close silent connections).
    "EVENTS_HEARTBEAT": Setting(15, positive(parse_int)),
    # Recent events kept for readers and for resuming (Last-Event-ID); final events are kept apart, as many,
    # for at most EVENTS_REPLAY_SECONDS, so progress cannot push them out.
    "EVENTS_BUFFER": Setting(1024, positive(parse_int)),
    "EVENTS_REPLAY_SECONDS": Setting(600, positive(parse_int)),
    # Seconds a stream stays open before the server ends it (the client resumes with Last-Event-ID); 0: no limit.
    "EVENTS_STREAM_LIFETIME": Setting(3600, non_negative(parse_int)),
    # A stream whose client leaves more than this unread is closed rather than buffered for.
    "EVENTS_MAX_UNSENT_BYTES": Setting(256 * 1024, positive(parse_int)),
}  # fmt: skip
