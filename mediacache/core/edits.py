"""What a queue call may ask to be done to the audio beyond the profile: loudness normalization and a clip.

Both are part of the variant (the normalized and the plain file of one URL are two entries),
so they are settled here, in plain Python, the same for every caller (the queue route,
collections): a client's value is checked once and turned into a canonical form whose text
goes into the entry's unique key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import DomainError, shown

# The targets a client may ask for, in LUFS (streaming services use -14 to -16; broadcast -23/-24).
MIN_TARGET_LUFS = -30.0
MAX_TARGET_LUFS = -5.0
# Far beyond any source a job accepts; keeps the key short and the arithmetic finite.
MAX_CLIP_SECONDS = 10**7
_TRUE = {"true", "yes"}
_FALSE = {"false", "no", "0", ""}
# ASCII only: float() reads other scripts' digits, and "nan"/"inf" are not seconds.
_NUMBER = re.compile(r"^\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*$", re.ASCII)


@dataclass(frozen=True)
class Edits:
    """Loudness target (LUFS) and clip bounds (milliseconds) of one variant; all None: the file as it comes."""

    normalize: float | None = None
    start_ms: int | None = None
    end_ms: int | None = None

    @property
    def clipped(self) -> bool:
        """Whether only part of the source is kept."""
        return self.start_ms is not None or self.end_ms is not None

    @property
    def changes_audio(self) -> bool:
        """Whether the samples differ from the source's: such a file is always re-encoded, never copied."""
        return self.normalize is not None or self.clipped

    @property
    def key(self) -> str:
        """The suffix of the variant key ("" when nothing is asked, so older keys keep their meaning)."""
        parts = []
        if self.normalize is not None:
            parts.append(f"n{_plain(self.normalize)}")
        if self.clipped:
            start = _plain((self.start_ms or 0) / 1000)
            end = "" if self.end_ms is None else _plain(self.end_ms / 1000)
            parts.append(f"c{start}-{end}")
        return "".join(f":{part}" for part in parts)

    @property
    def start(self) -> float:
        """Where the clip starts, in seconds (0 without a clip)."""
        return (self.start_ms or 0) / 1000

    @property
    def end(self) -> float | None:
        """Where the clip ends, in seconds (None: the end of the source)."""
        return None if self.end_ms is None else self.end_ms / 1000


# No edits: the file as it comes (a shared, immutable value).
NO_EDITS = Edits()


def _plain(number: float) -> str:
    """1.5 → "1.5", 2.0 → "2", -16.0 → "-16": one spelling per value."""
    return f"{number:.3f}".rstrip("0").rstrip(".")


def parse_normalize(value: object, default_target: float) -> float | None:
    """``normalize``: a boolean (true: the default target) or a target in LUFS between -30 and -5; None when off."""
    if value is None or value is False:
        return None
    if value is True:
        return float(default_target)
    text = str(value).strip().lower()
    if text in _TRUE or text == "1":
        return float(default_target)
    if text in _FALSE:
        return None
    if isinstance(value, bool) or not _NUMBER.match(text):
        raise DomainError(
            "INVALID_NORMALIZE",
            f"normalize {shown(value)} is neither true/false nor a loudness target in LUFS (e.g. normalize=-14).",
        )
    target = float(text)
    if not MIN_TARGET_LUFS <= target <= MAX_TARGET_LUFS:  # checked before rounding: -4.95 is out, not -5.0
        raise DomainError(
            "INVALID_NORMALIZE",
            f"normalize {shown(value)} is out of range: a target in LUFS from {MIN_TARGET_LUFS:g} to "
            f"{MAX_TARGET_LUFS:g} (e.g. -14 or -16), or true for the server's default ({default_target:g}).",
        )
    return round(target, 1)


def parse_seconds(name: str, value: object) -> int | None:
    """``start`` or ``end``: seconds (decimals allowed, to the millisecond) → milliseconds; None when not given."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not (isinstance(value, (int, float)) or _NUMBER.match(str(value))):
        raise DomainError("INVALID_CLIP", f"{name} {shown(value)} is not a number of seconds (e.g. {name}=12.5).")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_CLIP_SECONDS:
        raise DomainError(
            "INVALID_CLIP", f"{name} {shown(value)} is out of range: seconds from 0 to {MAX_CLIP_SECONDS}."
        )
    return round(seconds * 1000)


def settle_edits(normalize: object, start: object, end: object, default_target: float) -> Edits:
    """Check a client's normalize/start/end together and return the canonical edits."""
    start_ms, end_ms = parse_seconds("start", start), parse_seconds("end", end)
    if start_ms == 0:
        start_ms = None  # start=0 is no cut: the same file (and key) as none
    if end_ms is not None and end_ms <= (start_ms or 0):
        raise DomainError(
            "INVALID_CLIP",
            f"end ({end_ms / 1000:g} s) must be after start ({(start_ms or 0) / 1000:g} s).",
        )
    return Edits(parse_normalize(normalize, default_target), start_ms, end_ms)
