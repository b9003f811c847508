"""One job, start to finish: claim the entry, download, convert, read the real metadata, publish.

The row's side of it (claim, stage changes, retry or failure) is transitions.py's; the
conversion is encode.py's, or remux.py's for a source already in the profile's codec.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import or_, select

from ..core import names
from ..core.edits import Edits
from ..core.profiles import PROFILES, Variant, can_remux
from ..core.states import WORKING_STATES, CacheState, Status
from ..core.timeutil import utcnow
from ..db.extensions import db
from ..db.models import Media
from ..db.settings import get_setting
from ..jobs.background import get_background_lane
from ..jobs.extractorlimits import get_gate
from ..jobs.fairshare import get_fair_share
from ..jobs.runner import get_runner
from ..sources import ffmpeg as ffmpeg_tool
from ..sources import metadata, ytdlp
from ..sources.containers import matroska
from ..sources.containers.gaintags import write_gain_tags
from ..sources.failures import INFRASTRUCTURE, TRANSIENT, UNUSABLE_REQUEST, request_failure, site_of
from ..sources.jobcontrol import Control, JobCancelled, JobError
from ..sources.site_status import get_source_health
from . import storage
from .capacity import make_room
from .encode import Encoded, check_clip, encode, measure_published
from .remux import check_length, copy_or_remux, file_facts, read_bound
from .transitions import claim, fail, retry_or_fail, transition

log = logging.getLogger(__name__)


class JobRun(Protocol):
    """What a job needs of the run it belongs to (the runner's ``jobs.Run``)."""

    token: str
    cancel: threading.Event

    def claim(self, claim: Callable[[], bool]) -> bool: ...


def variant_of(media: Media) -> Variant:
    """The variant an entry was queued with."""
    edits = Edits(media.normalize_lufs, media.clip_start_ms, media.clip_end_ms)
    return Variant(PROFILES[media.profile], media.bitrate, media.resolution, edits)


def process_entry(media_id: str, run: JobRun, report, stopping: threading.Event | None = None) -> str:
    """Run the job of one entry; every outcome ends in a final status on the row (or a retry), which is returned.

    A job whose site is at its limit (MEDIACACHE_EXTRACTOR_LIMITS) returns "deferred" at once and
    gives its worker back; the gate submits it again when a slot is free. A cancel while
    ``stopping`` is set is the server stopping, not a client: the entry goes back to pending
    (returned as "interrupted") and the next start runs it again.
    """
    app = current_app._get_current_object()
    row = db.session.execute(
        select(Media.source_url, Media.requested_by).where(Media.id == media_id, Media.status == Status.PENDING)
    ).first()
    if row is None:
        return "skipped"
    account, wake = row.requested_by or "", partial(get_runner(app).submit, media_id)
    share = get_fair_share(app)
    if not share.enter(account, wake):
        return "deferred"
    try:
        site = ytdlp.site_for(row.source_url, app.config)
        gate = get_gate(app)
        if not gate.enter(site, wake):
            return "deferred"
        try:
            return _run_claimed(media_id, run, report, site, stopping)
        finally:
            gate.leave(site)
    finally:
        share.leave(account)


def others_waiting(account: str) -> bool:
    """Whether another account's job waits for a worker (a retry waiting for its time does not)."""
    now = utcnow()
    return db.session.scalar(select(Media.id).where(
        Media.status == Status.PENDING,
        or_(Media.requested_by.is_(None), Media.requested_by != account),
        or_(Media.retry_at.is_(None), Media.retry_at <= now),
    ).limit(1)) is not None  # fmt: skip


def _run_claimed(media_id: str, run: JobRun, report, site: str | None, stopping: threading.Event | None) -> str:
    # Claiming with a conditional update means a row is never run twice, even if submitted twice;
    # a run cancelled before it claimed (its entry may be pending again, for the next run) claims nothing.
    if not run.claim(partial(claim, media_id)):
        return "skipped"
    media = db.session.get(Media, media_id)
    control = Control(
        cancel=run.cancel,
        deadline=time.monotonic() + current_app.config["JOB_TIMEOUT"],
        max_filesize=get_setting("max_filesize"),
    )
    workdir = storage.fresh_temp_dir(media_id, run.token)
    failure: tuple[str, str] | None = None
    error: JobError | None = None
    cancelled = False
    try:
        extractor, follow_up = _produce(media, workdir, control, report)
        get_source_health().succeeded(extractor or site or "generic")
        if follow_up is not None:
            # The entry is already served; this must not hold the worker the next job waits for.
            get_background_lane().submit(follow_up)
        return "completed"
    except JobCancelled:
        cancelled = True
    except JobError as exc:
        failure, error = (exc.code, exc.message), exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            failure = ("STORAGE_FULL", "The disk filled up while this file was being made.")
        else:
            log.exception("job %s: file error", media_id)
            failure = ("INTERNAL_ERROR", "A file operation failed on the server.")
    except Exception:
        log.exception("job %s failed unexpectedly", media_id)
        failure = ("INTERNAL_ERROR", "The job failed unexpectedly; the error has been logged.")
    finally:
        # Before the final status: a client that sees the job end never sees its leftovers.
        storage.remove_temp_dir(workdir)
    if cancelled and stopping is not None and stopping.is_set():
        # A client's cancel marked the row cancelled before it signalled: that stays as it is.
        transition(media_id, ("downloading", "processing"), status="pending", progress=None)
        return "interrupted"
    if cancelled:
        transition(media_id, (*WORKING_STATES, Status.CANCELLED), status=Status.CANCELLED, progress=None)
        return "cancelled"
    assert failure is not None
    if error is not None and error.kind == TRANSIENT:
        return retry_or_fail(media_id, error)
    if error is not None and error.kind == INFRASTRUCTURE:
        where = error.extractor or site or "generic"
        log.warning("job %s: this server cannot fetch from %s: %s %s", media_id, where, error.code, error.message)
        get_source_health().failed(where, error.code, error.message, infrastructure=True)
    return fail(media_id, *failure)


def _produce(media: Media, workdir: Path, control: Control, report) -> tuple[str | None, Callable[[], None] | None]:
    """Make and publish the entry's file.

    Returns the site whose extractor took the URL (for health), and what remains to be done
    once the entry is served (the loudness of a file that was copied, or the true peak of one
    encoded plain), if anything.
    """
    config = current_app.config
    variant = variant_of(media)
    max_duration = get_setting("max_duration")

    def inspect(info: dict[str, Any]) -> None:
        if info.get("_type") in ("playlist", "multi_video"):
            raise JobError(
                "PLAYLIST_NOT_SUPPORTED",
                "This URL is a playlist or feed; POST /api/collections queues every item of it "
                "(GET /api/ytdlp?url=… lists them).",
            )
        if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
            raise JobError(
                "LIVE_STREAM",
                "This is a live stream (or one yet to start); only finished media can be "
                "cached. Queue it again once the stream has ended and is available as a video.",
            )
        duration = info.get("duration")
        if max_duration and duration and duration > max_duration:
            raise JobError("TOO_LONG", f"The source is {int(duration)} s long; the limit is {max_duration} s.")

    try:
        info, source = ytdlp.download(media.source_url, workdir, variant, config, report, control, inspect)
    except UNUSABLE_REQUEST as exc:
        control.check()  # a cancel or deadline explains the stop better
        verdict = request_failure(exc)
        raise JobError(verdict.code, verdict.message, kind=verdict.kind) from None
    transition(media.id, (Status.DOWNLOADING,), status=Status.PROCESSING)
    ffmpeg = ffmpeg_tool.find_ffmpeg(config["FFMPEG"])
    streams = matroska.read_streams(source) or metadata.audio_streams(source) or ffmpeg_tool.probe(ffmpeg, source)
    if streams.audio_codec is None and not (variant.profile.is_video and streams.video_codec):
        raise JobError("NO_AUDIO", "The downloaded source has no audio stream.")
    if max_duration and streams.duration and streams.duration > max_duration:
        # Direct files carry no duration until they are here; the limit holds all the same.
        raise JobError("TOO_LONG", f"The source is {int(streams.duration)} s long; the limit is {max_duration} s.")
    if variant.profile.is_video and streams.video_codec is None:
        raise JobError("NO_VIDEO", f"The source has no video; choose an audio profile instead of {media.profile}.")
    check_clip(variant.edits, streams.duration)

    source_tags = metadata.read_tags(source) or streams.tags
    described = metadata.describe_info(info, clean=not media.dont_clean_title, file_tags=source_tags)
    remux = can_remux(variant, streams)
    extension = variant.profile.extension
    output = workdir / f"output.{extension}"
    tags = {
        "title": described["title"],
        "artist": described["artist"],
        "album": described["album"],
        "album_artist": ", ".join(described["albumArtist"]),
        "date": str(described["year"] or ""),
        "genre": ", ".join(described["genre"]),
    }
    duration = streams.duration or info.get("duration")
    # Headers may lie about length: ffmpeg stops a little past the limit, and the output's own length decides.
    bound = read_bound(max_duration)
    encoded = Encoded(None, None)
    if not remux:
        encoded = encode(ffmpeg, source, output, variant, has_audio=streams.audio_codec is not None, tags=tags,
                         duration=duration, read_bound=bound, report=report, control=control)  # fmt: skip
    else:
        copy_or_remux(ffmpeg, source, output, variant, tags, duration, max_duration, report, control)

    facts = file_facts(ffmpeg, output, variant)
    if encoded.seconds and not variant.profile.is_video:
        # Headers of MP3 and M4A count the encoder's padding (tens of ms); the encoder's own count does not.
        facts["duration"] = round(encoded.seconds, 3)
    if variant.edits.clipped and not facts.get("duration"):
        raise JobError("CLIP_OUT_OF_RANGE", "The clip holds no audio: it starts at or past the end of the source.")
    check_length(facts["duration"], max_duration)
    if encoded.measured is not None:
        write_gain_tags(output, encoded.measured)
    file_metadata = described | facts | {"tags": metadata.read_tags(output), "loudness": encoded.document()}
    file_name = names.safe_file_name(described["artist"], described["title"], extension)
    size = output.stat().st_size
    control.check()
    if not make_room(size):
        raise JobError("STORAGE_FULL", f"No room for {size} more bytes under the cache size limit.")
    storage.publish(media.id, output, file_name)
    storage.remove_temp_dir(workdir)
    now = utcnow()
    completed = transition(
        media.id, (Status.PROCESSING,),
        status=Status.COMPLETED, cache_state=CacheState.LIVE, file_name=file_name, extension=extension,
        mime_type=variant.profile.mime_type, size_bytes=size,
        length_ms=round(facts["duration"] * 1000) if facts.get("duration") else None,
        media_metadata=file_metadata, progress=None, transcode_mode="remux" if remux else "encode",
        completed_at=now, expires_at=now + timedelta(seconds=media.ttl),
        deleted_at=None, retained_until=None,
    )  # fmt: skip
    follow_up = None
    if not completed:
        # Cancelled or deleted while we worked: the file must not linger.
        storage.delete_files(media.id)
    elif not variant.profile.is_video and (encoded.measured is None or not encoded.measured.true_peak):
        follow_up = partial(measure_published, ffmpeg, media.id, file_name, file_metadata)
    return site_of(info.get("extractor")), follow_up
