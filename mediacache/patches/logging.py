"""The standard library's logging: the writer thread's batching and the record look-ups it skips.

ops/logging.py's ``BatchWritingListener`` overrides ``QueueListener.dequeue`` and reads its
private ``_sentinel``, and ``configure_logging`` turns off ``logging._srcfile`` (the caller
look-up no format of ours shows). Both rest on the standard library's internals, so they are
tied to the Python versions they were tested with: outside them the listener hands records
over one by one and records look up their caller, as released.
"""

from __future__ import annotations

import logging  # the standard library's (this package's __init__ never binds the name)

from . import declare

PATCH = declare("logging batched writer", "python", ">=3.11,<3.14")


def skip_caller_lookups() -> None:
    """Records need not find the calling line: no format of ours shows it."""
    logging._srcfile = None
