"""Loudness arithmetic (EBU R128 / ITU-R BS.1770): the gain a normalized file gets, and players' gain tags.

Plain numbers in, plain numbers out; measuring is ffmpeg's (sources/loudness.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The highest true peak a normalized file may have.
MAX_TRUE_PEAK_DBTP = -1.5
# A lossy encoder's output peaks a little above its input (its filtering rings): the audio going
# into it is held this much lower, so the decoded file stays under MAX_TRUE_PEAK_DBTP.
LOSSY_HEADROOM_DB = 1.0
# Peaks between samples that a sample-peak measurement cannot see: room left for them when
# the first pass (which reads sample peaks, at half the cost of true peaks) decides the gain.
INTERSAMPLE_ALLOWANCE_DB = 0.5
# The reference levels players apply tags against: R128 gain (Opus) and ReplayGain 2.0.
R128_REFERENCE_LUFS = -23.0
REPLAYGAIN_REFERENCE_LUFS = -18.0


@dataclass(frozen=True)
class Measured:
    """One EBU R128 measurement: integrated loudness, peak (true or sample, as asked) and loudness range."""

    integrated_lufs: float | None  # None: silence (below the absolute gate)
    peak_db: float | None  # None: digital silence
    range_lu: float | None

    def document(self) -> dict[str, Any]:
        """``metadata.loudness`` of API.md (the peak a true peak)."""
        return {
            "integrated_lufs": self.integrated_lufs,
            "true_peak_dbtp": self.peak_db,
            "range_lu": self.range_lu,
        }


@dataclass(frozen=True)
class GainPlan:
    """How a file reaches its target: a linear gain, and a limiter only where that gain would clip."""

    target: float
    gain_db: float
    limit_db: float | None  # the limiter's ceiling (dBFS), None when a plain gain fits

    def document(self) -> dict[str, Any]:
        """``metadata.loudness.normalized``."""
        return {"target": self.target, "gain_db": round(self.gain_db, 2), "limited": self.limit_db is not None}


def ceiling_db(lossless: bool) -> float:
    """The highest true peak the audio may have on its way into the encoder."""
    return MAX_TRUE_PEAK_DBTP - (0.0 if lossless else LOSSY_HEADROOM_DB)


def plan_gain(measured: Measured, target: float, ceiling: float, *, true_peak: bool) -> GainPlan:
    """The linear gain to ``target``; with a limiter at ``ceiling`` if the gained peaks would pass it.

    ``true_peak`` says whether ``measured.peak_db`` already counts the peaks between samples.
    Silence gets no gain (there is nothing to bring to any level).
    """
    if measured.integrated_lufs is None:
        return GainPlan(target, 0.0, None)
    gain = target - measured.integrated_lufs
    allowance = 0.0 if true_peak else INTERSAMPLE_ALLOWANCE_DB
    if measured.peak_db is None or measured.peak_db + gain + allowance <= ceiling:
        return GainPlan(target, gain, None)
    return GainPlan(target, gain, ceiling)


def r128_track_gain(integrated_lufs: float) -> str:
    """R128_TRACK_GAIN (RFC 7845): the gain to -23 LUFS in Q7.8 fixed point, as a decimal integer."""
    steps = round((R128_REFERENCE_LUFS - integrated_lufs) * 256)
    return str(max(-32768, min(32767, steps)))


def replaygain(measured: Measured) -> dict[str, str]:
    """REPLAYGAIN_TRACK_GAIN / _PEAK (ReplayGain 2.0: gain to -18 LUFS, peak as a linear amplitude)."""
    tags = {"REPLAYGAIN_TRACK_GAIN": f"{REPLAYGAIN_REFERENCE_LUFS - measured.integrated_lufs:+.2f} dB"}
    if measured.peak_db is not None:
        tags["REPLAYGAIN_TRACK_PEAK"] = f"{10 ** (measured.peak_db / 20):.6f}"
    return tags
