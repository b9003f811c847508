"""The connection mediacache's waitress serves with, and the main-loop spin it no longer causes.

waitress's main loop watches a connection for writability whenever it has unsent bytes. But
a request thread sends its own answer as it writes it (``send_bytes`` is 1), holding the
connection's output lock. Meanwhile the socket is writable, so ``select`` returns at once;
the loop fails to take the lock, rescans every connection and selects again. That spin holds
the GIL, so the request thread waits longer to finish sending, so the loop spins longer. At
64 keep-alive clients it took a bare WSGI callable from 7,000 requests/s to 1,500 with a p99
of 150 ms (``bench/README.md``, item 4). While a request runs, the loop now waits for that
thread instead: the thread flushes its own writes, then pulls the loop's trigger when it ends
or leaves bytes unsent. The loop still takes over mid-request when output passes the high
watermark, because that is when the thread stops and waits for it.
"""

from __future__ import annotations

from .connections import ConnectionLimits
from .files import SendsFiles
from .mainloop import MainLoopAnswers
from .waiting import WaitingRequests


class Channel(MainLoopAnswers, ConnectionLimits, SendsFiles, WaitingRequests):
    """An HTTP connection whose socket is watched for writing only when the loop has work.

    It also answers on the main loop when offered (mainloop.py), counts against its address
    and times its request (connections.py), lets a file send itself (files.py), and says whether its
    request waits for long and how much of its answer is unsent (waiting.py).
    """

    def writable(self) -> bool:
        if self.requests and not (self.will_close or self.close_when_flushed):
            # A request thread owns the output until it ends, unless it waits at the watermark.
            return self.total_outbufs_len > self.adj.outbuf_high_watermark
        return super().writable()
