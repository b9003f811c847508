"""What every source run is handed and how it ends early: ``Control`` (cancel and deadline), ``ProgressCallback``.

``JobError`` is a failure the client sees as ``error.code``; ``JobCancelled`` a stop asked for.
yt-dlp's runs (ytdlp.py) and ffmpeg's (ffmpeg.py, loudness.py) share them, as do the jobs above.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.errors import DomainError

ProgressCallback = Callable[[dict[str, Any]], None]


class JobError(DomainError):
    """A job failed for a reason the client should see as ``error.code``/``error.message``."""

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        kind: str = "permanent",
        extractor: str | None = None,
    ) -> None:
        super().__init__(code, message, details)
        # permanent, transient (retried with backoff) or infrastructure (health turns degraded): see failures.py
        self.kind, self.extractor = kind, extractor


class JobCancelled(Exception):
    """The job was cancelled by a client or an admin."""


@dataclass
class Control:
    """What a running job can be stopped by: a cancel event and a deadline."""

    cancel: threading.Event
    deadline: float  # time.monotonic()
    max_filesize: int = 0

    def check(self) -> None:
        """Raise if the job must stop now."""
        if self.cancel.is_set():
            raise JobCancelled()
        if time.monotonic() > self.deadline:
            raise JobError("TIMEOUT", "The job took longer than the configured time limit.")
