"""The only code that touches static_cache/ and private_cache/.

Layout: ``static_cache/<id>/<file>`` is served; ``static_cache/.tmp/<id>/`` holds a job's
work in progress (same filesystem, so publishing is one ``os.replace``);
``private_cache/<id>/`` holds expired and soft-deleted files, never served.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import unicodedata
from pathlib import Path

from flask import current_app

TEMP_DIR_NAME = ".tmp"
_ENTRY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UNSAFE_NAME_CHARS = re.compile(r"[^\w]+", re.UNICODE)
_ATTACHMENT_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
MAX_NAME_LENGTH = 120


def _root(key: str) -> Path:
    return Path(current_app.config[key])


def is_entry_id(text: str) -> bool:
    """Whether ``text`` has the shape of an entry id (a UUID)."""
    return bool(_ENTRY_ID.match(text))


def _entry_dir(root: Path, media_id: str) -> Path:
    # Ids are generated UUIDs; anything else is refused before it can become a path.
    if not is_entry_id(media_id):
        raise ValueError(f"not an entry id: {media_id!r}")
    return root / media_id


def live_dir(media_id: str) -> Path:
    """The served folder of one entry."""
    return _entry_dir(_root("STATIC_CACHE"), media_id)


def private_dir(media_id: str) -> Path:
    """The never-served folder of one entry's retained file."""
    return _entry_dir(_root("PRIVATE_CACHE"), media_id)


def temp_root() -> Path:
    """Where every job's work in progress lives."""
    return _root("STATIC_CACHE") / TEMP_DIR_NAME


def fresh_temp_dir(media_id: str) -> Path:
    """An empty work folder for one job (anything left from an earlier attempt is removed)."""
    path = _entry_dir(temp_root(), media_id)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def remove_temp_dir(media_id: str) -> None:
    """Drop a job's work folder and everything in it."""
    shutil.rmtree(_entry_dir(temp_root(), media_id), ignore_errors=True)


def remove_all_temp_dirs() -> int:
    """Start-up clean-up: no job runs yet, so every work folder is a crash leftover."""
    root = temp_root()
    if not root.exists():
        return 0
    leftovers = list(root.iterdir())
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return len(leftovers)


def _entry_dirs(root: Path) -> list[Path]:
    if not root.exists():
        return []
    return [path for path in root.iterdir() if path.is_dir() and is_entry_id(path.name)]


def static_entry_dirs() -> list[Path]:
    """Every entry folder in static_cache/ (the temp folder excluded)."""
    return _entry_dirs(_root("STATIC_CACHE"))


def private_entry_dirs() -> list[Path]:
    """Every entry folder in private_cache/."""
    return _entry_dirs(_root("PRIVATE_CACHE"))


def publish(media_id: str, finished: Path, file_name: str) -> Path:
    """Move a finished file into the served folder in one atomic rename."""
    target_dir = live_dir(media_id)
    if target_dir.exists():
        shutil.rmtree(target_dir)  # an older version of this entry whose row was reset
    target_dir.mkdir(parents=True)
    target = target_dir / file_name
    os.replace(finished, target)
    return target


def _live_path(media_id: str, file_name: str, static_root: str | None = None) -> str | None:
    """Where an entry's served file would be, if the id and name are sane and its folder is a real folder.

    Neither the entry folder nor the file may be a symlink (the cache root itself is the
    operator's choice and may be one). One lstat, and plain strings rather than Paths:
    this runs on every file request, where resolving every path part was a measurable cost.
    """
    if not is_entry_id(media_id) or not file_name or "/" in file_name or file_name in (".", ".."):
        return None
    folder = os.path.join(static_root or current_app.config["STATIC_CACHE"], media_id)
    try:
        return os.path.join(folder, file_name) if stat.S_ISDIR(os.lstat(folder).st_mode) else None
    except OSError:
        return None


def live_file(media_id: str, file_name: str) -> Path | None:
    """The served file of an entry, if it is a plain file (not a symlink) in a plain folder of the static cache."""
    path = _live_path(media_id, file_name)
    try:
        return Path(path) if path is not None and stat.S_ISREG(os.lstat(path).st_mode) else None
    except OSError:
        return None


def open_live_file(static_root: str, media_id: str, file_name: str) -> tuple[int, os.stat_result] | None:
    """The served file of an entry as an open descriptor, with its stat; None if it is not servable.

    The rules of live_file; opening with O_NOFOLLOW refuses a symlink even one swapped in
    after the folder was checked. A bare descriptor rather than a file object: those
    cost two more system calls (a second stat, and a terminal check) on every request.
    The caller closes it. Needs no app context: the static cache folder is given.
    """
    path = _live_path(media_id, file_name, static_root)
    if path is None:
        return None
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    facts = os.fstat(descriptor)
    if not stat.S_ISREG(facts.st_mode):
        os.close(descriptor)
        return None
    return descriptor, facts


def move_to_private(media_id: str) -> bool:
    """Stop serving an entry's file but keep it: one rename into private_cache/."""
    source, target = live_dir(media_id), private_dir(media_id)
    if not source.exists():
        return False
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except FileNotFoundError:
        return False  # moved or removed by someone else in the meantime
    return True


def restore_from_private(media_id: str, file_name: str) -> bool:
    """Serve a retained file again: one rename back into static_cache/."""
    source, target = private_dir(media_id), live_dir(media_id)
    if not (source / file_name).is_file():
        return False
    if target.exists():
        shutil.rmtree(target)
    try:
        os.replace(source, target)
    except FileNotFoundError:
        return False
    return True


def retained_file_exists(media_id: str, file_name: str | None) -> bool:
    """Whether a retained copy is still on disk."""
    return bool(file_name) and (private_dir(media_id) / file_name).is_file()


def delete_files(media_id: str) -> None:
    """Remove every copy of an entry: live, retained and in progress."""
    for path in (live_dir(media_id), private_dir(media_id), _entry_dir(temp_root(), media_id)):
        shutil.rmtree(path, ignore_errors=True)


def safe_file_name(artist: str | None, title: str | None, extension: str) -> str:
    """``artist-title.ext`` from words only: nothing from the source can become a path."""
    words = " ".join(part for part in (artist, title) if part)
    text = unicodedata.normalize("NFKC", words).lower()
    slug = _UNSAFE_NAME_CHARS.sub("-", text).strip("-_")[:MAX_NAME_LENGTH].strip("-_")
    return f"{slug or 'media'}.{extension}"


def attachment_name(artist: str | None, title: str | None, extension: str) -> str:
    """``Artist - Title.ext`` for a download, with characters no filesystem accepts removed."""
    words = " - ".join(part for part in (artist, title) if part) or "media"
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


def _plain_name(text: str) -> str:
    """``text`` with what no filesystem accepts made spaces, and runs of spaces made one."""
    return re.sub(r"\s+", " ", _ATTACHMENT_UNSAFE.sub(" ", text)).strip()
