"""How a setting's value is read: each parser takes the Python value or the environment's string alike.

A parser raises ValueError (or TypeError) for a value it refuses; loading.py turns that into a
ConfigError naming the variable. db/settings.py reads runtime settings with the same parsers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# A whole number as a setting is written: ASCII digits, a minus allowed (re.ASCII: \d is 0-9 alone).
_INTEGER = re.compile(r"-?\d+", re.ASCII)


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
    """Accept an int, or a string of ASCII digits (a minus allowed; spaces around, as an env file may leave).

    int() alone also reads a plus sign, underscores between digits and any script's digits
    ("+3", "3_0" as 30, "３"); a setting, like every number a client writes, is plain digits.
    """
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    if isinstance(value, str):
        if not _INTEGER.fullmatch(value.strip()):
            raise ValueError(f"expected an integer in digits, got {value!r}")
        return int(value)
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


def at_least(minimum: int, *, at_most: int | None = None) -> Callable[[Callable[[Any], int]], Callable[[Any], int]]:
    """Wrap an int parser so values below ``minimum`` (or above ``at_most``) are refused."""

    def wrap(parse: Callable[[Any], int]) -> Callable[[Any], int]:
        def check(value: Any) -> int:
            number = parse(value)
            if number < minimum:
                raise ValueError(f"must be {minimum} or more, got {number}")
            if at_most is not None and number > at_most:
                raise ValueError(f"must be {at_most} or less, got {number}")
            return number

        return check

    return wrap


non_negative = at_least(0)
positive = at_least(1)
# Job workers: each holds a thread, and its ffmpeg a share of the CPU; past this a box thrashes.
MAX_WORKERS = 64
worker_count = at_least(1, at_most=MAX_WORKERS)


def non_negative_float(value: Any) -> float:
    """A number; below 0 reads as 0."""
    return max(0.0, float(value))


def parse_loudness_target(value: Any) -> float:
    """A loudness target in LUFS, from -30 to -5 (what a client's normalize=<target> may ask too)."""
    if isinstance(value, bool):
        raise ValueError("expected a number of LUFS")
    target = float(value)
    if not -30 <= target <= -5:
        raise ValueError(f"must be from -30 to -5 LUFS, got {target:g}")
    return target


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
