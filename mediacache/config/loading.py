"""The layers merged for every declared setting, the checks that span settings, and the secret key.

Defaults (settings.py) → instance/config.py → MEDIACACHE_* environment (.env) → the test mapping.
Any value that does not parse or check stops start-up with a ConfigError naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from .settings import SETTINGS

ENV_PREFIX = "MEDIACACHE_"
SECRET_FILE_NAME = "secret_key"
MIN_SECRET_BYTES = 32


class ConfigError(ValueError):
    """A configuration value is missing or malformed; start-up must stop."""


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
