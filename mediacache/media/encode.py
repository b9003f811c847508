"""A job's encode with the variant's edits: the clip, the loudness gain in two passes, the meter riding along.

Plain encodes measure what they encode in the same ffmpeg pass (the meter on a branch of the
audio, core/encoding.py), sample peaks only: the finished file's true peak is measured once
it is served (``measure_published``), on CPU time the jobs leave over, because reading it
in the pass cost a third more time to every encode. A normalized one first measures the
source (its clip) in a decode-only pass, then encodes with a linear gain, reading true peaks
(its ceiling is a true peak); only if that gain would push peaks past the ceiling does a
limiter take them (and ``metadata.loudness.normalized.limited`` says so). A file copied
without an encode is measured whole once it is served.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from threading import Event

from flask import Flask, current_app
from sqlalchemy import and_, func, or_, select

from ..core.edits import Edits
from ..core.encoding import encode_args
from ..core.loudness import TRUE_PEAK_PENDING, GainPlan, Measured, ceiling_db, plan_gain, with_true_peak
from ..core.profiles import PROFILES, Variant
from ..core.states import CacheState, Status
from ..core.timeutil import utcnow
from ..db import media_repo
from ..db.extensions import db
from ..db.models import Media
from ..jobs.background import get_background_lane
from ..sources import ffmpeg as ffmpeg_tool
from ..sources import loudness
from ..sources.jobcontrol import Control, JobCancelled, JobError
from . import storage

log = logging.getLogger(__name__)
# A limited file whose loudness ends up further than this from its target is encoded once more, its gain corrected.
LIMITED_TOLERANCE_LU = 0.5
# Taken off a limiter's ceiling beyond what its peaks passed it by, so the second encode lands under it.
PEAK_CORRECTION_MARGIN_DB = 0.2


@dataclass(frozen=True)
class Encoded:
    """What an encode measured and what gain it applied (None: not measured / not normalized)."""

    measured: Measured | None
    plan: GainPlan | None
    seconds: float | None = None  # what the encoder was given, exactly (file headers may add its padding)

    def document(self) -> dict | None:
        """``metadata.loudness``."""
        if self.measured is None:
            return None
        document = self.measured.document()
        if self.plan is not None:
            document["normalized"] = self.plan.document()
        return document


def encode(
    ffmpeg: str, source: Path, output: Path, variant: Variant, *, has_audio: bool, tags: dict[str, str],
    duration: float | None, read_bound: float | None, report, control: Control,
) -> Encoded:  # fmt: skip
    """Encode ``source`` into ``output`` as ``variant`` says, measuring its loudness on the way."""
    edits = variant.edits
    normalize = has_audio and edits.normalize is not None
    # Every audio file is measured; a video's sound only when it is normalized.
    measure = has_audio and (normalize or not variant.profile.is_video)
    ceiling = ceiling_db(variant.profile.is_lossless)
    plan = None
    if normalize:
        first = loudness.measure(ffmpeg, source, control, edits=edits, true_peak=False)
        plan = plan_gain(first, edits.normalize, ceiling)
    if edits.clipped and duration:
        duration = max(0.0, min(duration, edits.end or duration) - edits.start)
    bound = ["-t", str(read_bound)] if read_bound else []
    measured = converted = None
    for attempt in (1, 2):
        args = encode_args(variant, has_audio=has_audio, plan=plan, measure=measure, true_peak=normalize) + bound
        converted = ffmpeg_tool.convert(ffmpeg, source, output, args, tags, duration, report, control, keep_log=measure)
        measured = loudness.parse_summary(converted.log) if measure else None
        retry = _corrected(plan, measured, ceiling) if attempt == 1 else None
        if retry is None:
            break
        log.info("normalize %s: %s, encoding again with %s", output.name, measured, retry)
        plan = retry
    return Encoded(measured, plan, converted.seconds)


def _corrected(plan: GainPlan | None, measured: Measured | None, ceiling: float) -> GainPlan | None:
    """A better plan if the encode missed: true peaks over the ceiling, or a limited file off its target."""
    if plan is None or measured is None or measured.integrated_lufs is None:
        return None
    over = 0.0 if measured.peak_db is None else measured.peak_db - ceiling
    if plan.limit_db is None:
        # The first pass read sample peaks; the encode's meter reads true peaks. Over the ceiling: limit.
        return GainPlan(plan.target, plan.gain_db, ceiling) if over > 0 else None
    shortfall = plan.target - measured.integrated_lufs
    if abs(shortfall) <= LIMITED_TOLERANCE_LU and over <= 0:
        return None
    # The limiter holds sample peaks; what passed between them is taken off its ceiling.
    limit = plan.limit_db - (over + PEAK_CORRECTION_MARGIN_DB if over > 0 else 0.0)
    return GainPlan(plan.target, plan.gain_db + shortfall, limit)


def check_clip(edits: Edits, source_seconds: float | None) -> None:
    """A clip must start inside the source (once its length is known)."""
    if edits.start_ms and source_seconds and edits.start >= source_seconds:
        raise JobError(
            "CLIP_OUT_OF_RANGE",
            f"The clip starts at {edits.start:g} s but the source is only {source_seconds:.3f} s long.",
        )


def measure_published(ffmpeg: str, media_id: str, file_name: str, file_metadata: dict, stopping: Event) -> None:
    """Measure a served file's loudness, or the true peak its encode left pending (in the background lane).

    A copy decodes nothing, so there is no pass to ride along on, and a decode of the whole
    file would cost many times the copy: the entry is served at once and its
    ``metadata.loudness`` follows a moment later. Such a file carries no gain tags (a file
    being served is never rewritten). A plain encode's ``metadata.loudness`` gets its true
    peak the same way, read from the finished file.
    """
    path = storage.live_file(media_id, file_name)
    control = Control(cancel=stopping, deadline=time.monotonic() + current_app.config["JOB_TIMEOUT"])
    try:
        measured = loudness.measure(ffmpeg, path, control, background=True) if path is not None else None
    except (JobError, JobCancelled, OSError) as exc:
        log.warning("job %s: the loudness of the served file could not be measured: %s", media_id, exc)
        return
    if measured is not None:
        pending = file_metadata.get("loudness")
        document = with_true_peak(pending, measured) if pending else measured.document()
        media_repo.change(
            media_id, Media.status == Status.COMPLETED, Media.file_name == file_name,
            media_metadata=file_metadata | {"loudness": document}, updated_at=utcnow(),
        )  # fmt: skip
        db.session.commit()


def measure_unmeasured_files(app: Flask, media_id: str | None = None) -> int:
    """Served audio copied without an encode and not yet measured, or encoded with its true peak
    still pending, queued for ``measure_published`` (only ``media_id``, if given).

    At start-up (a stop dropped the measurements under way, or files predate loudness), and
    when a retained file is served again (its measurement found no file while it was away).
    """
    unmeasured_copy = and_(
        Media.transcode_mode == "remux", func.json_extract(Media.media_metadata, "$.loudness").is_(None)
    )
    pending = func.json_extract(Media.media_metadata, f"$.loudness.{TRUE_PEAK_PENDING}").is_(True)
    query = select(Media.id, Media.profile, Media.file_name, Media.media_metadata).where(
        Media.status == Status.COMPLETED, Media.cache_state == CacheState.LIVE, or_(unmeasured_copy, pending),
    )  # fmt: skip
    if media_id is not None:
        query = query.where(Media.id == media_id)
    rows = db.session.execute(query).all()
    unmeasured = [row for row in rows if row.profile in PROFILES and not PROFILES[row.profile].is_video]
    if unmeasured:
        try:
            ffmpeg, lane = ffmpeg_tool.find_ffmpeg(app.config["FFMPEG"]), get_background_lane(app)
        except JobError as exc:  # health says so too; the jobs will fail with it
            log.warning("loudness of %d served files not measured: %s", len(unmeasured), exc.message)
            return 0
        for row in unmeasured:
            lane.submit(partial(measure_published, ffmpeg, row.id, row.file_name, row.media_metadata or {}))
    return len(unmeasured)
