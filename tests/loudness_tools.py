"""An independent loudness meter for the tests: files decoded by ffmpeg, measured by pyloudnorm (ITU-R BS.1770-4)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pyloudnorm
from scipy.io import wavfile
from scipy.signal import resample_poly

from mediacache.sources.ffmpeg import find_ffmpeg

# Two tones, as music-like as a formula gets (a fifth apart), at about -6 LUFS and a true peak near -2.5 dBTP.
TONES = "0.5*sin(2*PI*220*t)+0.25*sin(2*PI*331*t)"
QUIET_GAIN_DB = -24  # the same tones at about -30 LUFS
SAMPLE_RATE = 44100
SECONDS = 6


def make_source(target: Path, expression: str, *, gain_db: float = 0.0, seconds: float = SECONDS) -> Path:
    """A stereo FLAC of ``expression`` (an aevalsrc formula in t) made by ffmpeg from lavfi, ``gain_db`` applied."""
    if not target.exists():
        source = f"aevalsrc='{expression}|{expression}':s={SAMPLE_RATE}:d={seconds}"
        subprocess.run(
            [find_ffmpeg(None), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
             "-af", f"volume={gain_db}dB", "-c:a", "flac", "-sample_fmt", "s32", str(target)],
            check=True,
        )  # fmt: skip
    return target


def decode(path: Path) -> tuple[np.ndarray, int]:
    """Every sample of a media file's audio as float32 (frames × channels), and its rate, decoded by ffmpeg."""
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "decoded.wav"
        subprocess.run(
            [find_ffmpeg(None), "-hide_banner", "-loglevel", "error", "-y", "-i", str(path), "-map", "0:a:0",
             "-c:a", "pcm_f32le", str(wav)],
            check=True,
        )  # fmt: skip
        rate, data = wavfile.read(wav)
    return (data.reshape(len(data), -1).astype(np.float64), rate)


def integrated_lufs(path: Path) -> float:
    """Integrated loudness of a file, in LUFS."""
    data, rate = decode(path)
    return pyloudnorm.Meter(rate).integrated_loudness(data)


def true_peak_dbtp(path: Path) -> float:
    """True peak (4× oversampled, as BS.1770 does) of a file, in dBTP."""
    data, _rate = decode(path)
    oversampled = resample_poly(data, 4, 1, axis=0)
    return 20 * float(np.log10(max(np.max(np.abs(oversampled)), 1e-12)))


def frames(path: Path) -> tuple[int, int]:
    """How many sample frames a file decodes to, and at what rate."""
    data, rate = decode(path)
    return len(data), rate
