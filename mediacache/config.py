"""Configuration: defaults → instance/config.py → MEDIACACHE_* environment → test mapping.

Every setting is declared once in ``SETTINGS`` with its default and parser, so the
same value can come from Python (instance file, tests) or a string (environment)
and is validated the same way. A bad value stops start-up with a message naming
the variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

ENV_PREFIX = "MEDIACACHE_"
SECRET_FILE_NAME = "secret_key"
MIN_SECRET_BYTES = 32
DAY = 86400


class ConfigError(ValueError):
    """A configuration value is missing or malformed; start-up must stop."""


def parse_bool(value: Any) -> bool:
    """Accept true/false/1/0/yes/no/on/off in any case."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (true/false), got {value!r}")


def parse_int(value: Any) -> int:
    """Accept an int or a decimal string."""
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    return int(value)


def parse_optional_str(value: Any) -> str | None:
    """Empty means unset."""
    text = "" if value is None else str(value).strip()
    return text or None


def parse_list(value: Any) -> list[str]:
    """A comma-separated string or a list."""
    if isinstance(value, (list, tuple)):
        return [str(item).strip() for item in value if str(item).strip()]
    return [item.strip() for item in str(value or "").split(",") if item.strip()]


def parse_choice(*choices: str) -> Callable[[Any], str]:
    """A parser that accepts one of ``choices`` (case-insensitive)."""

    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return parse


def non_negative(parse: Callable[[Any], int]) -> Callable[[Any], int]:
    """Wrap an int parser so negative values are refused."""

    def check(value: Any) -> int:
        number = parse(value)
        if number < 0:
            raise ValueError(f"must be 0 or more, got {number}")
        return number

    return check


def positive(parse: Callable[[Any], int]) -> Callable[[Any], int]:
    """Wrap an int parser so values below 1 are refused."""

    def check(value: Any) -> int:
        number = parse(value)
        if number < 1:
            raise ValueError(f"must be 1 or more, got {number}")
        return number

    return check


@dataclass(frozen=True)
class Setting:
    default: Any
    parse: Callable[[Any], Any]


SETTINGS: dict[str, Setting] = {
    "HOST": Setting("127.0.0.1", str),
    "PORT": Setting(8080, positive(parse_int)),
    "THREADS": Setting(8, positive(parse_int)),
    "INSTANCE_DIR": Setting("instance", str),
    "STATIC_CACHE": Setting("static_cache", str),
    "PRIVATE_CACHE": Setting("private_cache", str),
    "DATABASE_URL": Setting(None, parse_optional_str),
    "SECRET_KEY": Setting(None, parse_optional_str),
    "ADMIN_USERNAME": Setting("admin", str),
    "ADMIN_PASSWORD": Setting(None, parse_optional_str),
    "PUBLIC_URL": Setting(None, parse_optional_str),
    "EXTERNAL_ENDPOINTS": Setting([], parse_list),
    "DEFAULT_PROFILE": Setting("mp3", str),
    "DEFAULT_TTL": Setting(3600, positive(parse_int)),
    "MAX_TTL": Setting(30 * DAY, positive(parse_int)),
    "RETENTION_DAYS": Setting(30, non_negative(parse_int)),
    "WORKERS": Setting(2, positive(parse_int)),
    "SWEEP_INTERVAL": Setting(60, positive(parse_int)),
    "JOB_TIMEOUT": Setting(1800, positive(parse_int)),
    # 0 disables the limit.
    "MAX_DURATION": Setting(3 * 3600, non_negative(parse_int)),
    "MAX_FILESIZE": Setting(1024**3, non_negative(parse_int)),
    "MAX_CACHE_BYTES": Setting(0, non_negative(parse_int)),
    "ALLOW_PRIVATE_URLS": Setting(False, parse_bool),
    # CIDRs exempt from the private-address refusal, e.g. a NAS on the LAN: 192.168.1.10/32.
    "ALLOWED_NETWORKS": Setting([], parse_list),
    "ALLOWED_DOMAINS": Setting([], parse_list),
    "BLOCKED_DOMAINS": Setting([], parse_list),
    "ALLOWED_EXTRACTORS": Setting([], parse_list),
    "BLOCKED_EXTRACTORS": Setting([], parse_list),
    "QUEUE_RATE_LIMIT": Setting("60 per minute", str),
    "LOOKUP_RATE_LIMIT": Setting("30 per minute", str),
    "MAX_PENDING_PER_USER": Setting(20, non_negative(parse_int)),
    # Most items one POST /api/collections may queue; a longer playlist or feed is refused (400 TOO_MANY_ITEMS).
    "MAX_COLLECTION_ITEMS": Setting(100, positive(parse_int)),
    "FFMPEG": Setting(None, parse_optional_str),
    "YTDLP_COOKIES": Setting(None, parse_optional_str),
    "REGISTRATION": Setting("off", parse_choice("off", "approval", "open")),
    "METRICS_PUBLIC": Setting(False, parse_bool),
    "LOG_FORMAT": Setting("text", parse_choice("text", "json")),
    "SCHEDULER": Setting(True, parse_bool),
    # 8 h, as the original service: a game round outlasts 1 h, and its client renews late now and then.
    "ACCESS_TOKEN_TTL": Setting(8 * 3600, positive(parse_int)),
    "REFRESH_TOKEN_TTL": Setting(30 * DAY, positive(parse_int)),
    "MAX_TOKEN_HOURS": Setting(30 * 24, positive(parse_int)),
    "LOGIN_RATE_LIMIT": Setting("10 per minute", str),
    "REGISTER_RATE_LIMIT": Setting("20 per hour", str),
    "MAX_BODY_BYTES": Setting(1024 * 1024, positive(parse_int)),
    # scrypt by default; tests use a cheap pbkdf2 so the suite stays fast.
    "PASSWORD_HASH_METHOD": Setting("scrypt", str),
    # Origins whose pages may call /api/* (CORS): * for any, or a comma list of https://host[:port].
    "CORS_ORIGINS": Setting(["*"], parse_list),
    # What yt-dlp may read into memory at once (a page or manifest), and how long a look-up may take.
    "MAX_PAGE_BYTES": Setting(16 * 1024**2, positive(parse_int)),
    "LOOKUP_TIMEOUT": Setting(60, positive(parse_int)),
    # Recent /api/ytdlp answers kept in memory, counted by the size of their JSON.
    "LOOKUP_CACHE_BYTES": Setting(32 * 1024**2, non_negative(parse_int)),
    # The JavaScript runtime yt-dlp solves YouTube's challenges with (a path or a command name);
    # unset: the Deno binary of the ``deno`` package. PATH is never searched otherwise.
    "JS_RUNTIME": Setting(None, parse_optional_str),
    # Held connections (each costs a descriptor; the open-file limit is raised to fit at start):
    # seconds a connection may sit with no request, and may take to send its request headers.
    "CONNECTION_LIMIT": Setting(4096, positive(parse_int)),
    "IDLE_TIMEOUT": Setting(30, positive(parse_int)),
    "HEADER_TIMEOUT": Setting(10, positive(parse_int)),
    # Seconds from SIGTERM to exit: running jobs are cancelled and left pending for the next start.
    "STOP_TIMEOUT": Setting(10, positive(parse_int)),
}

# Reverse proxies in front of the service (issue 14.11): how many hops of X-Forwarded-For
# and X-Forwarded-Proto to believe. 0 believes none: the headers are anyone's to forge.
SETTINGS["TRUSTED_PROXIES"] = Setting(0, non_negative(parse_int))

# Seconds after expiry during which POST /api/token still renews the caller's own access
# token (issue 17.1: a game client whose clock rounds to 128 s renews up to a minute late).
SETTINGS["TOKEN_RENEW_GRACE"] = Setting(600, non_negative(parse_int))

# Seconds a client may take to send a request's body once its headers are in (a body sent a byte
# at a time would otherwise hold its connection for ever; bodies are at most MAX_BODY_BYTES).
SETTINGS["BODY_TIMEOUT"] = Setting(30, positive(parse_int))
# Most connections one client address may hold (0: no limit). Off by default: behind a reverse
# proxy every client has the proxy's address; set it when clients connect directly.
SETTINGS["MAX_CONNECTIONS_PER_ADDRESS"] = Setting(0, non_negative(parse_int))


def parse_loudness_target(value: Any) -> float:
    """A loudness target in LUFS, from -30 to -5 (what a client's normalize=<target> may ask too)."""
    if isinstance(value, bool):
        raise ValueError("expected a number of LUFS")
    target = float(value)
    if not -30 <= target <= -5:
        raise ValueError(f"must be from -30 to -5 LUFS, got {target:g}")
    return target


# The loudness normalize=true brings a file to (issue 19), in LUFS.
SETTINGS["LOUDNESS_TARGET"] = Setting(-16.0, parse_loudness_target)


def load_config(instance_config: dict[str, Any], test_config: dict[str, Any] | None) -> dict[str, Any]:
    """Merge the layers for every declared setting and validate each value."""
    load_dotenv(override=False)
    raw: dict[str, Any] = {name: setting.default for name, setting in SETTINGS.items()}
    raw.update({k: v for k, v in instance_config.items() if k in SETTINGS})
    for name in SETTINGS:
        if ENV_PREFIX + name in os.environ:
            raw[name] = os.environ[ENV_PREFIX + name]
    raw.update({k: v for k, v in (test_config or {}).items() if k in SETTINGS})

    config: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        try:
            config[name] = setting.parse(raw[name]) if raw[name] is not None else None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{ENV_PREFIX}{name}: {exc}") from None
    for key in ("INSTANCE_DIR", "STATIC_CACHE", "PRIVATE_CACHE"):
        config[key] = str(Path(config[key]).expanduser().resolve())
    _validate(config)
    return config


def instance_dir_from(test_config: dict[str, Any] | None) -> str:
    """The instance folder must be known before instance/config.py can be read."""
    load_dotenv(override=False)
    value = (test_config or {}).get("INSTANCE_DIR") or os.environ.get(ENV_PREFIX + "INSTANCE_DIR")
    return str(Path(value or SETTINGS["INSTANCE_DIR"].default).expanduser().resolve())


def _validate(config: dict[str, Any]) -> None:
    """Checks that span more than one setting, or need more than a type."""
    if config["DEFAULT_TTL"] > config["MAX_TTL"]:
        raise ConfigError(f"{ENV_PREFIX}DEFAULT_TTL ({config['DEFAULT_TTL']}) exceeds MAX_TTL ({config['MAX_TTL']})")
    secret = config["SECRET_KEY"]
    if secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{ENV_PREFIX}SECRET_KEY is {len(secret.encode())} bytes; use at least {MIN_SECRET_BYTES} "
            f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'), or unset it to have one generated"
        )
    for network in config["ALLOWED_NETWORKS"]:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(
                f"{ENV_PREFIX}ALLOWED_NETWORKS: {network!r} is not a network (e.g. 192.168.1.0/24)"
            ) from None
    public_roots = [config["PUBLIC_URL"]] if config["PUBLIC_URL"] else []
    for url in public_roots + config["EXTERNAL_ENDPOINTS"]:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{ENV_PREFIX}PUBLIC_URL and EXTERNAL_ENDPOINTS must be http(s) URLs, got {url!r}")
    for origin in config["CORS_ORIGINS"]:
        if origin != "*" and not re.fullmatch(r"https?://[^/\s]+/?", origin):
            raise ConfigError(
                f"{ENV_PREFIX}CORS_ORIGINS: {origin!r} is not an origin; use * or scheme://host[:port], comma-separated"
            )


def load_or_create_secret(instance_dir: str) -> str:
    """Read the generated secret, or create it once with mode 0600."""
    path = Path(instance_dir) / SECRET_FILE_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fd = None
    if fd is not None:
        secret = secrets.token_urlsafe(48)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret + "\n")
        return secret
    secret = path.read_text().strip()
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"{path} holds a secret shorter than {MIN_SECRET_BYTES} bytes; delete it to regenerate")
    return secret


# How long a statement waits for another connection's lock (a backup, the sqlite3 shell, another
# process) before giving up; the request then answers 503 DATABASE_BUSY with Retry-After.
SETTINGS["DB_BUSY_TIMEOUT_MS"] = Setting(10_000, non_negative(parse_int))


def parse_extractor_args(value: Any) -> dict[str, dict[str, list[str]]]:
    """yt-dlp's --extractor-args, several separated by spaces: ``youtube:player_client=tv,web;formats=missing_pot``."""
    if isinstance(value, dict):
        return value
    parsed: dict[str, dict[str, list[str]]] = {}
    for part in str(value or "").split():
        extractor, colon, arguments = part.partition(":")
        if not colon or not extractor:
            raise ValueError(f"expected EXTRACTOR:KEY=VALUE[,VALUE][;KEY=VALUE], got {part!r}")
        for argument in filter(None, arguments.split(";")):
            key, equals, values = argument.partition("=")
            if not equals or not key:
                raise ValueError(f"expected KEY=VALUE in {part!r}, got {argument!r}")
            parsed.setdefault(extractor.lower(), {})[key.strip().replace("-", "_")] = values.split(",")
    return parsed


def parse_extractor_limits(value: Any) -> dict[str, tuple[int, float]]:
    """``youtube=2/1s,soundcloud=4/0.5s``: per site, at most N jobs at once, starting at least S seconds apart."""
    if isinstance(value, dict):
        return value
    limits: dict[str, tuple[int, float]] = {}
    for part in parse_list(value):
        match = re.fullmatch(r"([\w.-]+)=(\d+)(?:/(\d+(?:\.\d+)?)s?)?", part.replace(" ", ""), re.ASCII)
        if not match or int(match.group(2)) < 1:
            raise ValueError(f"expected SITE=N/SECONDSs with N of 1 or more (e.g. youtube=2/1s), got {part!r}")
        limits[match.group(1).lower()] = (int(match.group(2)), float(match.group(3) or 0))
    return limits


# YouTube and other real sources (issue 16): yt-dlp pass-through, failures that heal, gentleness, canaries.
SETTINGS.update({
    "YTDLP_EXTRACTOR_ARGS": Setting({}, parse_extractor_args),
    # Every yt-dlp request goes through this proxy (http://, https:// or socks5://).
    "YTDLP_PROXY": Setting(None, parse_optional_str),
    # The bgutil PO-token provider's HTTP server; the network guard lets exactly this address through.
    "YTDLP_POT_PROVIDER_URL": Setting(None, parse_optional_str),
    # Retries of a transient failure (bot check, 429/403 from the media host, network error).
    "RETRY_ATTEMPTS": Setting(3, non_negative(parse_int)),
    # The first retry waits about this many seconds, each next one twice as long, at most RETRY_MAX_DELAY.
    "RETRY_BASE_DELAY": Setting(30.0, lambda value: max(0.0, float(value))),
    "RETRY_MAX_DELAY": Setting(3600.0, lambda value: max(0.0, float(value))),
    "EXTRACTOR_LIMITS": Setting("youtube=2/1s", parse_extractor_limits),
    # yt-dlp older than this is reported (health degraded) and named as the cause of extractor breakage; 0: never.
    "YTDLP_MAX_AGE_DAYS": Setting(90, non_negative(parse_int)),
    "CANARY_URLS": Setting([], parse_list),
    "CANARY_INTERVAL": Setting(4 * 3600, positive(parse_int)),
})  # fmt: skip

# Completion webhooks (issue 18): each try ends after WEBHOOK_TIMEOUT seconds; a failed one is tried again
# WEBHOOK_RETRY_BASE_DELAY seconds later, then twice as long each time, WEBHOOK_ATTEMPTS tries in all
# (6 tries from 120 s: the last about an hour after the first); WEBHOOK_SENDERS deliveries at once.
SETTINGS.update({
    "WEBHOOK_TIMEOUT": Setting(5.0, lambda value: min(60.0, max(0.1, float(value)))),
    "WEBHOOK_ATTEMPTS": Setting(6, positive(parse_int)),
    "WEBHOOK_RETRY_BASE_DELAY": Setting(120.0, lambda value: max(0.0, float(value))),
    "WEBHOOK_SENDERS": Setting(4, positive(parse_int)),
})  # fmt: skip

# Clients that wait to be told (issue 18): long-polls (GET /api/media/<id>?wait=N) and event
# streams (GET /api/events) each have their own cap and their own threads, apart from THREADS.
# Past a cap a long-poll is answered at once (with Retry-After) and a stream gets 503 STREAMS_FULL.
SETTINGS["LONGPOLL_MAX_WAITERS"] = Setting(256, positive(parse_int))
SETTINGS["EVENTS_MAX_STREAMS"] = Setting(64, positive(parse_int))
# Streams one account may hold open at once, so one account (or its leaked tabs) cannot take every slot.
SETTINGS["EVENTS_MAX_STREAMS_PER_USER"] = Setting(8, positive(parse_int))
# Seconds between heartbeat comments on an otherwise quiet stream (proxies close silent connections).
SETTINGS["EVENTS_HEARTBEAT"] = Setting(15, positive(parse_int))
# Recent events kept for readers and for resuming (Last-Event-ID); final events are kept apart, as many,
# for at most EVENTS_REPLAY_SECONDS, so progress cannot push them out.
SETTINGS["EVENTS_BUFFER"] = Setting(1024, positive(parse_int))
SETTINGS["EVENTS_REPLAY_SECONDS"] = Setting(600, positive(parse_int))
# Seconds a stream stays open before the server ends it (the client resumes with Last-Event-ID); 0: no limit.
SETTINGS["EVENTS_STREAM_LIFETIME"] = Setting(3600, non_negative(parse_int))
# A stream whose client leaves more than this unread is closed rather than buffered for.
SETTINGS["EVENTS_MAX_UNSENT_BYTES"] = Setting(256 * 1024, positive(parse_int))
