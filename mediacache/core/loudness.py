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
# In ``metadata.loudness`` while the true peak of the finished file is still being measured.
TRUE_PEAK_PENDING = "true_peak_pending"
# The reference levels players apply tags against: R128 gain (Opus) and ReplayGain 2.0.
R128_REFERENCE_LUFS = -23.0
REPLAYGAIN_REFERENCE_LUFS = -18.0


@dataclass(frozen=True)
class Measured:
    """One EBU R128 measurement: integrated loudness, peak (true or sample, as asked) and loudness range."""

    integrated_lufs: float | None  # None: silence (below the absolute gate)
    peak_db: float | None  # None: digital silence
    range_lu: float | None
    true_peak: bool = True  # False: ``peak_db`` is the highest sample, blind to the peaks between samples

    def document(self) -> dict[str, Any]:
        """``metadata.loudness``: a sample peak is not a true peak, so until one is measured it is pending."""
        if not self.true_peak:
            return {"integrated_lufs": self.integrated_lufs, "true_peak_dbtp": None, "range_lu": self.range_lu,
                    TRUE_PEAK_PENDING: True}  # fmt: skip
        return {"integrated_lufs": self.integrated_lufs, "true_peak_dbtp": self.peak_db, "range_lu": self.range_lu}


def with_true_peak(document: dict[str, Any], measured: Measured) -> dict[str, Any]:
    """A ``metadata.loudness`` whose true peak was pending, completed by ``measured`` (of the finished file).

    The integrated loudness stays the encode's own: the file's gain tags were written from it.
    """
    completed = {key: value for key, value in document.items() if key != TRUE_PEAK_PENDING}
    return completed | {"true_peak_dbtp": measured.peak_db}


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


def plan_gain(measured: Measured, target: float, ceiling: float) -> GainPlan:
    """The linear gain to ``target``; with a limiter at ``ceiling`` if the gained peaks would pass it.

    Silence gets no gain (there is nothing to bring to any level).
    """
    if measured.integrated_lufs is None:
        return GainPlan(target, 0.0, None)
    gain = target - measured.integrated_lufs
    allowance = 0.0 if measured.true_peak else INTERSAMPLE_ALLOWANCE_DB
    if measured.peak_db is None or measured.peak_db + gain + allowance <= ceiling:
        return GainPlan(target, gain, None)
    return GainPlan(target, gain, ceiling)


def r128_track_gain(integrated_lufs: float) -> str:
    """R128_TRACK_GAIN (RFC 7845): the gain to -23 LUFS in Q7.8 fixed point, as a decimal integer."""
    steps = round((R128_REFERENCE_LUFS - integrated_lufs) * 256)
    return str(max(-32768, min(32767, steps)))


def replaygain(measured: Measured) -> dict[str, str]:
    """REPLAYGAIN_TRACK_GAIN / _PEAK (ReplayGain 2.0: gain to -18 LUFS, peak as a linear amplitude).

    The peak is the measurement's own: a true peak for a normalized file, the sample peak
    (ReplayGain 1.0's definition, which 2.0 allows) for a plain one.
    """
    tags = {"REPLAYGAIN_TRACK_GAIN": f"{REPLAYGAIN_REFERENCE_LUFS - measured.integrated_lufs:+.2f} dB"}
    if measured.peak_db is not None:
        tags["REPLAYGAIN_TRACK_PEAK"] = f"{10 ** (measured.peak_db / 20):.6f}"
    return tags
