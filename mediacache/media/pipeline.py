"""One job, start to finish: claim the entry, download, convert, read the real metadata, publish."""

from __future__ import annotations

import errno
import logging
import os
import random
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
from ..core.profiles import PROFILES, Variant, can_remux, remux_args
from ..core.states import WORKING_STATES, CacheState, Status
from ..core.timeutil import isoformat, utcnow
from ..db import media_repo
from ..db.extensions import db
from ..db.models import Media
from ..db.settings import get_setting
from ..jobs.extractorlimits import get_gate
from ..jobs.runner import get_runner
from ..sources import ffmpeg as ffmpeg_tool
from ..sources import metadata, ytdlp
from ..sources.containers import matroska, mpegaudio, oggopus
from ..sources.containers.gaintags import write_gain_tags
from ..sources.failures import INFRASTRUCTURE, TRANSIENT, UNUSABLE_REQUEST, request_failure, site_of
from ..sources.jobcontrol import Control, JobCancelled, JobError
from ..sources.site_status import get_source_health
from . import events, storage
from .encode import Encoded, check_clip, encode, measure_published
from .lifecycle import make_room

log = logging.getLogger(__name__)
OPUS_SAMPLE_RATE = 48_000
# Seconds a finished file may run past MAX_DURATION (encoder padding, rounding) before it is too long.
LENGTH_SLACK = 1.0


class JobRun(Protocol):
    """What a job needs of the run it belongs to (the runner's ``jobs.Run``)."""

    token: str
    cancel: threading.Event

    def claim(self, claim: Callable[[], bool]) -> bool: ...


def variant_of(media: Media) -> Variant:
    """The variant an entry was queued with."""
    edits = Edits(media.normalize_lufs, media.clip_start_ms, media.clip_end_ms)
    return Variant(PROFILES[media.profile], media.bitrate, media.resolution, edits)


def _transition(media_id: str, from_states: tuple[str, ...], **values: Any) -> bool:
    """A conditional update: succeeds only if the row is still in one of ``from_states``."""
    changed = media_repo.change(media_id, Media.status.in_(from_states), updated_at=utcnow(), **values)
    db.session.commit()
    if changed:
        events.publish_entry_change(media_id)  # after the commit: long-polls and event streams hear of it
    return changed


def process_entry(media_id: str, run: JobRun, report, stopping: threading.Event | None = None) -> str:
    """Run the job of one entry; every outcome ends in a final status on the row (or a retry), which is returned.

    A job whose site is at its limit (MEDIACACHE_EXTRACTOR_LIMITS) returns "deferred" at once and
    gives its worker back; the gate submits it again when a slot is free. A cancel while
    ``stopping`` is set is the server stopping, not a client: the entry goes back to pending
    (returned as "interrupted") and the next start runs it again.
    """
    app = current_app._get_current_object()
    source_url = db.session.scalar(select(Media.source_url).where(Media.id == media_id, Media.status == Status.PENDING))
    if source_url is None:
        return "skipped"
    site = ytdlp.site_for(source_url, app.config)
    gate = get_gate(app)
    if not gate.enter(site, partial(get_runner(app).submit, media_id)):
        return "deferred"
    try:
        return _run_claimed(media_id, run, report, site, stopping)
    finally:
        gate.leave(site)


def _claim(media_id: str) -> bool:
    """pending → downloading, unless the entry waits for a retry that is not due yet."""
    now = utcnow()
    claimed = media_repo.change(
        media_id, Media.status == Status.PENDING, or_(Media.retry_at.is_(None), Media.retry_at <= now),
        status=Status.DOWNLOADING, error_code=None, error_message=None, retry_at=None, progress=None, updated_at=now,
    )  # fmt: skip
    db.session.commit()
    if claimed:
        events.publish_entry_change(media_id)  # after the commit: long-polls and event streams hear of it
    return claimed


def _run_claimed(media_id: str, run: JobRun, report, site: str | None, stopping: threading.Event | None) -> str:
    # Claiming with a conditional update means a row is never run twice, even if submitted twice;
    # a run cancelled before it claimed (its entry may be pending again, for the next run) claims nothing.
    if not run.claim(partial(_claim, media_id)):
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
            follow_up()  # after the bookkeeping of the success: the entry is already served
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
        _transition(media_id, ("downloading", "processing"), status="pending", progress=None)
        return "interrupted"
    if cancelled:
        _transition(media_id, (*WORKING_STATES, Status.CANCELLED), status=Status.CANCELLED, progress=None)
        return "cancelled"
    assert failure is not None
    if error is not None and error.kind == TRANSIENT:
        return _retry_or_fail(media_id, error)
    if error is not None and error.kind == INFRASTRUCTURE:
        where = error.extractor or site or "generic"
        log.warning("job %s: this server cannot fetch from %s: %s %s", media_id, where, error.code, error.message)
        get_source_health().failed(where, error.code, error.message, infrastructure=True)
    return _fail(media_id, *failure)


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: about base·2^(attempt-1), never over ``cap``, never all at once."""
    delay = min(cap, base * 2 ** (attempt - 1))
    # Half fixed, half random: jobs that failed together (one bot check, many entries) spread out.
    return delay / 2 + random.uniform(0, delay / 2)


def _retry_or_fail(media_id: str, error: JobError) -> str:
    """A transient failure: back to pending with ``retry_at`` (kept in the row), or failed once retries are spent."""
    config = current_app.config
    attempts = (db.session.scalar(select(Media.attempts).where(Media.id == media_id)) or 0) + 1
    if attempts > config["RETRY_ATTEMPTS"]:
        _transition(media_id, WORKING_STATES, attempts=attempts)
        message = f"{error.message} (still failing after {attempts} attempts)" if attempts > 1 else error.message
        return _fail(media_id, error.code, message[:1024])
    delay = retry_delay(attempts, config["RETRY_BASE_DELAY"], config["RETRY_MAX_DELAY"])
    retry_at = utcnow() + timedelta(seconds=delay)
    progress = {
        "stage": "waiting", "percent": None, "downloaded_bytes": None, "total_bytes": None, "speed": None,
        "eta": round(delay), "attempts": attempts, "max_attempts": config["RETRY_ATTEMPTS"] + 1,
        "retry_at": isoformat(retry_at), "last_error": {"code": error.code, "message": error.message},
    }  # fmt: skip
    if not _transition(media_id, WORKING_STATES, status=Status.PENDING, attempts=attempts,
                       retry_at=retry_at, progress=progress):  # fmt: skip
        return "cancelled"  # cancelled or deleted meanwhile: nothing to retry
    log.info("job %s: %s; retry %d in %.1f s", media_id, error.code, attempts, delay)
    get_runner(current_app).submit_later(media_id, delay)
    return "retrying"


def _fail(media_id: str, code: str, message: str) -> str:
    _transition(
        media_id, WORKING_STATES,
        status=Status.FAILED, error_code=code, error_message=message, progress=None,
    )  # fmt: skip
    return "failed"


def _produce(media: Media, workdir: Path, control: Control, report) -> tuple[str | None, Callable[[], None] | None]:
    """Make and publish the entry's file.

    Returns the site whose extractor took the URL (for health), and what remains to be done
    once the entry is served (the loudness of a file that was copied, not encoded), if anything.
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
    _transition(media.id, (Status.DOWNLOADING,), status=Status.PROCESSING)
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
    bound = _read_bound(max_duration)
    encoded = Encoded(None, None)
    if not remux:
        encoded = encode(ffmpeg, source, output, variant, has_audio=streams.audio_codec is not None, tags=tags,
                         duration=duration, read_bound=bound, report=report, control=control)  # fmt: skip
    elif not _copy_in_process(ffmpeg, source, output, variant, tags, max_duration, control):
        output_args = remux_args(variant) + (["-t", str(bound)] if bound else [])
        ffmpeg_tool.convert(ffmpeg, source, output, output_args, tags, duration, report, control)

    facts = _file_facts(ffmpeg, output, variant)
    if encoded.seconds and not variant.profile.is_video:
        # Headers of MP3 and M4A count the encoder's padding (tens of ms); the encoder's own count does not.
        facts["duration"] = round(encoded.seconds, 3)
    if variant.edits.clipped and not facts.get("duration"):
        raise JobError("CLIP_OUT_OF_RANGE", "The clip holds no audio: it starts at or past the end of the source.")
    _check_length(facts["duration"], max_duration)
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
    completed = _transition(
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
    elif encoded.measured is None and not variant.profile.is_video:
        follow_up = partial(measure_published, ffmpeg, media.id, file_name, file_metadata, control)
    return site_of(info.get("extractor")), follow_up


def _read_bound(max_duration: int) -> float | None:
    """How many seconds of a source to read at most: enough to tell that it is too long."""
    # An absurd setting (hundreds of digits) reads as "a very long time", not as a float overflow.
    return min(max_duration, 10**9) + 2 * LENGTH_SLACK if max_duration else None


def _check_length(seconds: float | None, max_duration: int) -> None:
    """Refuse what plays longer than the limit, whatever the source's header said."""
    if max_duration and seconds and seconds > max_duration + LENGTH_SLACK:
        raise JobError(
            "TOO_LONG", f"The source plays for more than {max_duration} s (its header may say less); "
            f"the limit is {max_duration} s."
        )  # fmt: skip


def _copy_in_process(
    ffmpeg: str, source: Path, output: Path, variant: Variant, tags: dict[str, str], max_duration: int,
    control: Control,
) -> bool:  # fmt: skip
    """Put a source already in the target codec into the profile's file without transcoding, if we can.

    Most sources of a remux are either the target file already (new tags are all it needs)
    or Opus in WebM bound for Ogg; an ffmpeg remux would be most of such a job. The Ogg
    copy writes its own lengths from the packets; a file retagged in place keeps its header,
    so its packets are read first: they must be audio of the right codec, and as long as
    the header says (else ffmpeg's remux writes a header that tells the truth).
    """
    profile = variant.profile
    audio = metadata.open_retaggable(source, profile.extension, profile.audio_codec)
    if audio is not None:
        demuxed = _real_audio(ffmpeg, source, profile.audio_codec, max_duration, control)
        if demuxed.codec != profile.audio_codec:
            raise JobError(
                "NO_AUDIO", f"The downloaded source is not readable {profile.audio_codec} audio "
                f"(ffmpeg found {demuxed.codec or 'none'})."
            )  # fmt: skip
        _check_length(demuxed.duration, max_duration)
        claimed = float(getattr(audio.info, "length", 0) or 0)
        if abs(claimed - demuxed.duration) > max(LENGTH_SLACK, claimed * 0.01):
            return False
        metadata.retag(audio, tags)
        os.replace(source, output)
        return True
    if (profile.extension, profile.audio_codec) == ("ogg", "opus"):
        return oggopus.opus_to_ogg(source, output, metadata.vorbis_comments(tags))
    return False


def _real_audio(ffmpeg: str, source: Path, codec: str, max_duration: int, control: Control) -> ffmpeg_tool.Demuxed:
    """Codec and real length of a file about to be published as it is: an MP3's frames walked here, else by ffmpeg."""
    bound = _read_bound(max_duration)
    if codec == "mp3" and (seconds := mpegaudio.real_length(source, bound)) is not None:
        return ffmpeg_tool.Demuxed("mp3", seconds)  # every byte was a Layer III frame, back to back
    return ffmpeg_tool.demux_audio(ffmpeg, source, bound, control)


def _file_facts(ffmpeg: str, output: Path, variant: Variant) -> dict[str, Any]:
    """Length, codec, bitrate, sample rate and channels of the finished file."""
    facts = metadata.read_stream_info(output)
    if variant.profile.audio_codec == "opus" and facts.get("duration"):
        facts["sample_rate"] = facts.get("sample_rate") or OPUS_SAMPLE_RATE  # Opus always decodes at 48 kHz
    if not all(facts.get(key) for key in ("duration", "sample_rate", "channels")):
        # mutagen reads no Matroska/WebM and no Opus sample rate; ffmpeg's own report fills the gaps.
        streams = ffmpeg_tool.probe(ffmpeg, output)
        probed = {
            "duration": streams.duration,
            "bitrate": streams.bitrate,
            "sample_rate": streams.sample_rate,
            "channels": streams.channels,
        }
        facts = {key: facts.get(key) or probed[key] for key in probed}
    return {
        "duration": facts.get("duration"),
        "codec": variant.profile.audio_codec,
        "bitrate": facts.get("bitrate") or variant.bitrate,
        "sample_rate": facts.get("sample_rate"),
        "channels": facts.get("channels"),
    }
