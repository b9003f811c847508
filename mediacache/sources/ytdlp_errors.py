"""What a failed yt-dlp call is reported as: a spent budget, a refused connection, else yt-dlp's own reason.

The reason is classified by failures.py (code, and whether a retry or the operator can help);
here it becomes the ``JobError`` a job fails with or a look-up answers.
"""

from __future__ import annotations

from typing import Any

from yt_dlp.utils import DownloadError

from .budget import Budget
from .failures import classify, ytdlp_outdated
from .jobcontrol import JobError
from .netguard import AddressPolicy


def call_error(
    exc: Exception,
    budget: Budget,
    policy: AddressPolicy,
    warnings: list[str],
    config: dict[str, Any],
    timeout_code: str,
) -> JobError | None:
    """The error a yt-dlp call that raised ``exc`` is reported as; None when ``exc`` is no fetch's failure (a bug).

    A spent budget explains the failure first (its deadline is reported as ``timeout_code``),
    then a connection the policy refused, then the words of yt-dlp's DownloadError.
    """
    error = _budget_error(budget, timeout_code)
    if error is None and not isinstance(exc, DownloadError):
        return None
    return error or _policy_error(policy) or map_ytdlp_error(exc, warnings, config)


def _budget_error(budget: Budget, timeout_code: str) -> JobError | None:
    """The failure a spent budget explains, if any: its deadline first, then a page too large."""
    if budget.stopped == "deadline":
        return JobError(timeout_code, "The source took longer than this server's time limit to answer.")
    if budget.too_large is not None:
        return JobError("TOO_LARGE", f"The source sent a page larger than {budget.too_large} bytes.")
    return None


def _policy_error(policy: AddressPolicy) -> JobError | None:
    if policy.refused:
        return JobError("URL_NOT_ALLOWED", f"A connection was refused: {policy.refused[-1]}.")
    return None


def map_ytdlp_error(exc: Exception, warnings: list[str] = (), config: dict[str, Any] | None = None) -> JobError:
    """The API error for a yt-dlp failure, with its class (failures.py); the message keeps yt-dlp's reason."""
    outdated = ytdlp_outdated((config or {}).get("YTDLP_MAX_AGE_DAYS") or 0)
    verdict = classify(str(exc), warnings, outdated=outdated)
    return JobError(verdict.code, verdict.message, kind=verdict.kind, extractor=verdict.extractor)
