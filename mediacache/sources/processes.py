"""The tools' processes (ffmpeg): each in a session of its own, killed with the server, stopped by ``Control``.

``tool_process_options`` is how every one is started; ``supervised`` is how every long one is
run: watched for cancel and deadline, and never left running or unreaped when its block ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from .jobcontrol import Control

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return prctl


_prctl = _load_prctl()  # looked up here: the child, between fork and exec, only calls it


def _die_with_server(server_pid: int, background: bool = False) -> None:
    # In the child before exec (the settings survive exec, and every thread ffmpeg starts has them):
    # the kernel sends SIGKILL when the thread that started it ends, i.e. when the server dies, even by SIGKILL.
    if background:
        _only_when_idle()
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != server_pid:  # the server died before the setting took hold
        os._exit(1)


def _only_when_idle() -> None:
    # SCHED_IDLE: the CPU goes to it only when nothing else wants it. A lower nice value alone
    # was not enough: a measurement at nice 10 beside a job took 0.1-0.2 s off the job's time to ready.
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux, or refused: the lowest priority nice gives
        os.nice(19)


def tool_process_options(*, background: bool = False) -> dict[str, Any]:
    """Popen options for ffmpeg: its own session (a kill reaches all it starts), killed when the server dies.

    The session keeps it out of the server's signals, so without the death signal an ffmpeg
    outlived a killed server and ran its transcode to the end. ``background``: work nobody
    waits for, run only on CPU time the jobs clients wait for leave over.
    """
    options: dict[str, Any] = {"start_new_session": True}
    if _prctl is not None or background:
        options["preexec_fn"] = functools.partial(_die_with_server, os.getpid(), background)
    return options


@contextlib.contextmanager
def supervised(process: subprocess.Popen, control: Control, watchdog_name: str) -> Iterator[subprocess.Popen]:
    """Watch ``process`` for cancel and deadline; when the block ends, kill its group if it still runs, then reap it.

    The block reads the process's output; an exception in it (or a stop) must not leave the
    tool running on, nor a zombie behind.
    """
    watchdog = threading.Thread(target=_kill_when_stopped, args=(process, control), daemon=True, name=watchdog_name)
    watchdog.start()
    try:
        yield process
    finally:
        if process.poll() is None:
            kill_group(process)
        process.wait()


def _kill_when_stopped(process: subprocess.Popen, control: Control) -> None:
    """Watch a running tool and kill it (its whole group) on cancel or deadline."""
    while process.poll() is None:
        if control.cancel.is_set() or time.monotonic() > control.deadline:
            kill_group(process)
            return
        time.sleep(0.1)


def kill_group(process: subprocess.Popen) -> None:
    """Kill the tool and anything it started (it leads its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
