"""EBU R128 measurements by ffmpeg's ``ebur128`` filter: read from an encode's log, or in a pass of their own.

An encode measures what it encodes (core/encoding.py hangs the meter on it); a file that was
copied, not encoded, the true peak of a plain encode's finished file, and the first pass of a
normalization, are read here in a decode-only pass.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ..core.edits import NO_EDITS, Edits
from ..core.encoding import meter, trim_filters
from ..core.loudness import Measured
from .jobcontrol import Control, JobError
from .processes import supervised, tool_process_options

# The meter's summary, printed when its filter closes; the last one in a log is the final one.
_SUMMARY = re.compile(
    r"Summary:.*?Integrated loudness:\s+I:\s+(?P<i>-?[\d.]+|-?inf|nan) LUFS.*?"
    r"Loudness range:\s+LRA:\s+(?P<lra>-?[\d.]+|-?inf|nan) LU.*?"
    r"(?P<kind>True|Sample) peak:\s+Peak:\s+(?P<peak>-?[\d.]+|-?inf|nan) dBFS",
    re.DOTALL,
)
LOG_TAIL_BYTES = 64 * 1024
# The meter reports silence as -70 LUFS (its absolute gate): no loudness at all.
SILENCE_LUFS = -70.0


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None  # nan and ±inf: nothing to report


def parse_summary(log: str) -> Measured | None:
    """The last meter summary in an ffmpeg log (printed at level info), or None if there is none."""
    found = list(_SUMMARY.finditer(log))
    if not found:
        return None
    match = found[-1]
    integrated = _number(match.group("i"))
    if integrated is not None and integrated <= SILENCE_LUFS:
        integrated = None
    true_peak = match.group("kind") == "True"
    return Measured(integrated, _number(match.group("peak")), _number(match.group("lra")), true_peak)


def measure(
    ffmpeg: str, path: Path, control: Control, *, edits: Edits = NO_EDITS, true_peak: bool = True,
    background: bool = False,
) -> Measured:  # fmt: skip
    """Decode the first audio stream of ``path`` (clipped as ``edits`` say) and measure it; nothing is written.

    ``true_peak=False`` reads sample peaks instead: half the cost, for a first pass that
    only needs to know whether a gain fits. ``background``: at low CPU priority (nobody waits for it).
    """
    chain = ",".join([*trim_filters(edits), meter("true" if true_peak else "sample")])
    command = [
        ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info", "-i", str(path),
        "-map", "0:a:0", "-vn", "-sn", "-dn", "-af", chain, "-f", "null", "-",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        **tool_process_options(background=background)
    )  # fmt: skip
    with supervised(process, control, "ffmpeg-meter"):
        # A few kilobytes whatever the length (the meter prints nothing per frame); only the tail is kept all the same.
        tail = b""
        while chunk := process.stderr.read(65536):
            tail = (tail + chunk)[-LOG_TAIL_BYTES:]
        log = tail.decode(errors="replace")
        process.wait()
    control.check()
    measured = parse_summary(log) if process.returncode == 0 else None
    if measured is None:
        detail = (log.strip().splitlines() or ["no output"])[-1][:300]
        raise JobError("TRANSCODE_FAILED", f"ffmpeg could not measure the loudness of the audio: {detail}")
    return measured
