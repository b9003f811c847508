"""The states of an entry, defined once: its job's ``Status``, its file's ``CacheState``, and "valid".

Both enums are ``StrEnum``: a member equals its string, so rows, JSON and SQL keep the plain
values of API.md ("pending", "live", …) and code compares against the members.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    """Where an entry's job is (API.md's ``status``; cancelled is reported as failed/CANCELLED)."""

    PENDING = "pending"
    DOWNLOADING = "downloading"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CacheState(StrEnum):
    """Where an entry's file is: nowhere, served, kept privately (expired or deleted), or gone."""

    NONE = "none"
    LIVE = "live"
    EXPIRED = "expired"
    DELETED = "deleted"
    PURGED = "purged"


# A job is queued or under way: the entry may not be run again or deleted without force.
RUNNING_STATES = (Status.PENDING, Status.DOWNLOADING, Status.PROCESSING)
# A worker holds the entry: progress is written only in these.
WORKING_STATES = (Status.DOWNLOADING, Status.PROCESSING)
FINAL_STATES = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
RETRYABLE_STATES = (Status.FAILED, Status.CANCELLED)
# The file is kept in private_cache/ until the retention period ends.
RETAINED_STATES = (CacheState.EXPIRED, CacheState.DELETED)
# The entry has a file somewhere (served or retained).
FILE_STATES = (CacheState.LIVE, *RETAINED_STATES)

# "Valid": the entry's file is being served right now. is_valid is the definition;
# db/media_repo.py's valid_clause is its SQL form, and a test holds the two equal.
VALID_STATUS = Status.COMPLETED
VALID_CACHE_STATE = CacheState.LIVE


def is_valid(status: str, cache_state: str, expires_at: datetime | None, now: datetime) -> bool:
    """Whether an entry with these values is served at ``now`` (no expiry: served until one is set)."""
    return status == VALID_STATUS and cache_state == VALID_CACHE_STATE and (expires_at is None or expires_at > now)
