"""The only code that touches static_cache/ and private_cache/.

Layout: ``static_cache/<id>/<file>`` is served; ``static_cache/.tmp/<id>-<run>/`` holds the
work in progress of one run of a job (same filesystem, so publishing is one ``os.replace``);
``private_cache/<id>/`` holds expired and soft-deleted files, never served;
``private_cache/.quarantine/<time>/`` holds folders found on disk that the database did not know.
The two caches may sit on different filesystems: every move between them goes through ``move``.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import uuid
from pathlib import Path

from flask import current_app

from ..core.timeutil import utcnow

TEMP_DIR_NAME = ".tmp"
QUARANTINE_DIR_NAME = ".quarantine"
# A copy on its way across filesystems, beside its target until it is renamed into place.
STAGING_PREFIX = ".moving-"
_RUN_TOKEN = re.compile(r"^[0-9a-f]{8,32}$")
_ENTRY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _root(key: str) -> Path:
    return Path(current_app.config[key])


def is_entry_id(text: str) -> bool:
    """Whether ``text`` has the shape of an entry id (a UUID)."""
    return _ENTRY_ID.fullmatch(text) is not None


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


def fresh_temp_dir(media_id: str, run_token: str) -> Path:
    """A new, empty work folder for one run of a job.

    Named by the run, not only the entry: a run still stopping after a cancel and the run
    queued after it never share a folder, so neither's clean-up can remove the other's work.
    """
    if not _RUN_TOKEN.match(run_token):
        raise ValueError(f"not a run token: {run_token!r}")
    path = _entry_dir(temp_root(), media_id).with_name(f"{media_id}-{run_token}")
    path.mkdir(parents=True)
    return path


def remove_temp_dir(workdir: Path) -> None:
    """Drop one run's work folder and everything in it."""
    if workdir.parent != temp_root():
        raise ValueError(f"not a work folder: {workdir}")
    shutil.rmtree(workdir, ignore_errors=True)


def remove_all_temp_dirs() -> int:
    """Start-up clean-up: no job runs yet, so every work folder is a crash leftover."""
    root = temp_root()
    if not root.exists():
        return 0
    leftovers = list(root.iterdir())
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return len(leftovers)


def remove_staging_leftovers() -> int:
    """Start-up clean-up: copies a crash cut off mid-move (their source was never removed)."""
    removed = 0
    for root in (_root("STATIC_CACHE"), _root("PRIVATE_CACHE")):
        # Entry folders are moved at the top of a cache; a published file lands inside its entry folder.
        for path in [*root.glob(f"{STAGING_PREFIX}*"), *root.glob(f"*/{STAGING_PREFIX}*")]:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed += 1
    return removed


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
    move(finished, target)
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


def move(source: Path, target: Path) -> None:
    """Move a file or folder to ``target`` (absent, or an empty folder), on one filesystem or across two.

    On one filesystem this is one rename. Across two (EXDEV: the caches may be on different
    disks) the copy is written under a staging name beside the target, flushed to disk with
    its folder, renamed into place, and only then is the source removed: at every moment a
    whole copy exists under its real name, and a crash leaves at worst a staging copy, which
    start-up removes.
    """
    try:
        os.replace(source, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    staging = target.with_name(f"{STAGING_PREFIX}{target.name}-{uuid.uuid4().hex[:8]}")
    try:
        if source.is_dir():
            shutil.copytree(source, staging, symlinks=True)
        else:
            shutil.copy2(source, staging, follow_symlinks=False)
        _flush(staging)
        os.replace(staging, target)
        _flush_dir(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True) if staging.is_dir() else staging.unlink(missing_ok=True)
        raise
    shutil.rmtree(source) if source.is_dir() and not source.is_symlink() else source.unlink()
    _flush_dir(source.parent)


def _flush(path: Path) -> None:
    """fsync a file, or every file and folder under a folder (the folder itself last)."""
    if path.is_symlink():
        return
    if path.is_dir():
        for child in path.iterdir():
            _flush(child)
        _flush_dir(path)
        return
    _fsync(path, os.O_NOFOLLOW)


def _flush_dir(folder: Path) -> None:
    _fsync(folder, os.O_DIRECTORY)


def _fsync(path: Path, flags: int) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def move_to_private(media_id: str) -> bool:
    """Stop serving an entry's file but keep it: moved into private_cache/."""
    source, target = live_dir(media_id), private_dir(media_id)
    if not source.exists():
        return False
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        move(source, target)
    except FileNotFoundError:
        return False  # moved or removed by someone else in the meantime
    return True


def restore_from_private(media_id: str, file_name: str) -> bool:
    """Serve a retained file again: moved back into static_cache/."""
    source, target = private_dir(media_id), live_dir(media_id)
    if not (source / file_name).is_file():
        return False
    if target.exists():
        shutil.rmtree(target)
    try:
        move(source, target)
    except FileNotFoundError:
        return False
    return True


def new_quarantine_batch() -> Path:
    """The folder (not yet created) where one reconcile puts what the database does not know."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%S.%fZ")
    return _root("PRIVATE_CACHE") / QUARANTINE_DIR_NAME / stamp


def quarantine(entry_dir: Path, batch: Path) -> Path:
    """Set aside an entry folder the database does not know, never deleting it; returns where it went."""
    area = "static_cache" if entry_dir.parent == _root("STATIC_CACHE") else "private_cache"
    target = batch / area / entry_dir.name
    target.parent.mkdir(parents=True, exist_ok=True)
    move(entry_dir, target)
    return target


def retained_file_exists(media_id: str, file_name: str | None) -> bool:
    """Whether a retained copy is still on disk."""
    return bool(file_name) and (private_dir(media_id) / file_name).is_file()


def delete_files(media_id: str) -> None:
    """Remove every kept copy of an entry, live and retained.

    Work in progress is not touched: each run of a job removes its own work folder when it
    ends, and a run still stopping must not lose its folder under it.
    """
    for path in (live_dir(media_id), private_dir(media_id)):
        shutil.rmtree(path, ignore_errors=True)
