"""The process's memory: glibc's heaps capped and trimmed after each job, long-lived objects frozen.

The job runner calls these after a job; app.py calls them once when it starts serving.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def freeze_long_lived_objects() -> None:
    """Take the objects alive now out of the collector's full passes; for a serving process once warm.

    The app, its libraries and yt-dlp's extractors are ~115,000 objects that live as long as
    the process. Each full collection walked all of them, ~40 ms with the GIL held: every
    request in flight stalled, and the first poll after a job saw "completed" that late.
    Garbage is collected first, so only live objects are frozen.
    """
    gc.collect()
    gc.freeze()


def release_free_memory() -> None:
    """Give memory freed by a finished job back to the system (glibc keeps it otherwise)."""
    # yt-dlp leaves reference cycles (downloader <-> extractors); free them before trimming.
    gc.collect()
    if _libc is not None:
        _libc.malloc_trim(0)


def _load_libc():

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_libc = _load_libc()
M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's per-thread heaps: a threaded server otherwise grows one per thread and keeps them."""
    if _libc is not None and hasattr(_libc, "mallopt"):
        _libc.mallopt(M_ARENA_MAX, arenas)
