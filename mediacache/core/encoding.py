"""ffmpeg arguments of an encode with edits: clip, gain, limiter, and the loudness meter riding along.

The meter (``ebur128``) hangs off a branch of the audio (``asplit``) into a sink, so it reads
exactly what goes into the encoder while the encoder's own input keeps its rate and format
(the meter converts what it reads). Its summary is printed at the end of ffmpeg's log.

Its true peak (4x oversampling, at 44.1-48 kHz about 40% of an Opus encode's CPU) is read
only where the encode needs it, to hold a normalized file under its ceiling; a plain encode's
meter reads sample peaks, and its finished file's true peak is measured off the workers.
"""

from __future__ import annotations

from .edits import Edits
from .loudness import GainPlan
from .profiles import VIDEO_AUDIO_BITRATE, Variant

# Look-ahead of the limiter (ms): long enough to catch a transient, short enough not to pump.
LIMITER_ATTACK_MS = 5
LIMITER_RELEASE_MS = 100
# The limiter holds sample peaks this far under its ceiling, leaving room for the peaks between them.
LIMITER_MARGIN_DB = 0.5


def meter(peak: str) -> str:
    """The EBU R128 meter, its per-frame log off (the summary alone is printed)."""
    return f"ebur128=peak={peak}:framelog=quiet"


def trim_filters(edits: Edits, *, video: bool = False) -> list[str]:
    """The clip as filters over the decoded stream: exact to the sample (audio) or frame (video)."""
    if not edits.clipped:
        return []
    bounds = f"start={edits.start:.3f}" + (f":end={edits.end:.3f}" if edits.end is not None else "")
    if video:
        return [f"trim={bounds}", "setpts=PTS-STARTPTS"]
    return [f"atrim={bounds}", "asetpts=PTS-STARTPTS"]


def audio_filters(edits: Edits, plan: GainPlan | None) -> list[str]:
    """Clip, then gain, then (only where the gain would clip) the limiter."""
    filters = trim_filters(edits)
    if plan is not None and plan.gain_db:
        filters.append(f"volume={plan.gain_db:.2f}dB")
    if plan is not None and plan.limit_db is not None:
        limit = 10 ** ((plan.limit_db - LIMITER_MARGIN_DB) / 20)
        filters.append(
            f"alimiter=limit={max(0.0625, limit):.5f}:attack={LIMITER_ATTACK_MS}:release={LIMITER_RELEASE_MS}"
            ":level=false:latency=true"
        )
    return filters


def encode_args(
    variant: Variant, *, has_audio: bool, plan: GainPlan | None, measure: bool, true_peak: bool = False
) -> list[str]:
    """Output arguments of an encode (never a remux) with this variant's edits, ``plan``'s gain and the meter.

    ``true_peak``: the meter reads true peaks (else sample peaks).
    """
    profile = variant.profile
    graphs, maps = [], []
    if profile.is_video:
        video = [*trim_filters(variant.edits, video=True), f"scale=-2:'min({variant.height},ih)'"]
        graphs.append(f"[0:v:0]{','.join(video)}[v]")
        maps += ["-map", "[v]"]
    if has_audio:
        chain = audio_filters(variant.edits, plan)
        if measure:
            peak = "true" if true_peak else "sample"
            graphs.append(f"[0:a:0]{','.join([*chain, 'asplit'])}[a][m];[m]{meter(peak)},anullsink")
            maps += ["-map", "[a]"]
        elif chain:
            graphs.append(f"[0:a:0]{','.join(chain)}[a]")
            maps += ["-map", "[a]"]
        else:
            maps += ["-map", "0:a:0"]
    args = (["-filter_complex", ";".join(graphs)] if graphs else []) + maps + ["-sn", "-dn"]
    if not profile.is_video:
        args += ["-vn", "-c:a", profile.audio_encoder]
        if variant.bitrate:
            args += ["-b:a", str(variant.bitrate)]
        if profile.audio_encoder == "libopus":
            args += ["-ar", "48000"]  # Opus only runs at 48 kHz; resample explicitly for 44.1 kHz sources
        return args + list(profile.muxer_args)
    args += ["-c:v", profile.video_encoder, "-c:a", profile.audio_encoder, "-b:a", str(VIDEO_AUDIO_BITRATE)]
    if profile.video_encoder == "libx264":
        args += ["-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
    else:
        args += ["-b:v", "0", "-crf", "33", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1"]
    return args + list(profile.muxer_args)
