"""Names for files from what a source says: safe on disk, readable in a download, ASCII for old clients.

Plain text in, plain text out: the source's words never become a path.
"""

from __future__ import annotations

import re
import unicodedata

_UNSAFE_NAME_CHARS = re.compile(r"[^\w]+", re.UNICODE)
_ATTACHMENT_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
MAX_NAME_LENGTH = 120


def _parts(artist: str | None, title: str | None) -> list[str]:
    """Artist and title, with the artist held to half a name so that a long one cannot crowd out the title."""
    if artist and title:
        artist = artist.strip()[: MAX_NAME_LENGTH // 2]
    return [part for part in (artist, title) if part]


def safe_file_name(artist: str | None, title: str | None, extension: str) -> str:
    """``artist-title.ext`` from words only: nothing from the source can become a path."""
    words = " ".join(_parts(artist, title))
    text = unicodedata.normalize("NFKC", words).lower()
    slug = _UNSAFE_NAME_CHARS.sub("-", text).strip("-_")[:MAX_NAME_LENGTH].strip("-_")
    return f"{slug or 'media'}.{extension}"


def attachment_name(artist: str | None, title: str | None, extension: str) -> str:
    """``Artist - Title.ext`` for a download, with characters no filesystem accepts removed."""
    words = " - ".join(_parts(artist, title)) or "media"
    clean = _plain_name(_visible(words))[:MAX_NAME_LENGTH].strip(" .")
    return f"{clean or 'media'}.{extension}"


def ascii_name(name: str, fallback_stem: str) -> str:
    """An ASCII spelling of a file name for clients that ignore ``filename*``: accents dropped, else ``fallback_stem``.

    "Björk - Jóga.mp3" becomes "Bjork - Joga.mp3"; a name in a script with no ASCII
    letters becomes "<fallback_stem>.mp3", never a bare ".mp3".
    """
    stem, _, extension = name.rpartition(".")
    spelled = unicodedata.normalize("NFKD", _visible(stem)).encode("ascii", "ignore").decode()
    spelled = _plain_name(spelled).strip(" .-_")
    if not any(char.isalnum() for char in spelled):
        spelled = fallback_stem
    return f"{spelled}.{extension}"


# Characters that change how a name reads without being part of it: controls, and the format characters
# (bidi overrides and isolates, zero-width spaces and joiners, the BOM, tag characters), lone surrogates.
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs"}
_LINE_BREAKS = {"Zl", "Zp"}


def _visible(text: str) -> str:
    """``text`` without invisible characters; line and paragraph separators become spaces."""
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category in _LINE_BREAKS:
            kept.append(" ")
        elif category not in _INVISIBLE_CATEGORIES:
            kept.append(char)
    return "".join(kept)


def one_line(text: str) -> str:
    """``text`` as one line of plain text: every control, format character and line or paragraph
    separator becomes a space, so a title can neither start a line of its own (an M3U entry, a
    log line) nor hide what it says."""
    return "".join(" " if unicodedata.category(char) in _INVISIBLE_CATEGORIES | _LINE_BREAKS else char for char in text)


def _plain_name(text: str) -> str:
    """``text`` with what no filesystem accepts made spaces, and runs of spaces made one."""
    return re.sub(r"\s+", " ", _ATTACHMENT_UNSAFE.sub(" ", text)).strip()
