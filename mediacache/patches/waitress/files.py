"""File answers sent by their file (``os.sendfile``) instead of block by block through Python.

waitress sends a file answer from its main loop, reading each block into a bytes object and
sending it again, all on one thread. A file that can send itself (``send_to``, as
``mediacache.web.routes.files.FileSpan`` does with ``os.sendfile``) is sent that way instead:
at a round start, 256 clients fetching one file at once, that took us from 0.41x to about
0.7x nginx (``bench/README.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from waitress import wasyncore
from waitress.buffers import ReadOnlyFileBasedBuffer
from waitress.channel import HTTPChannel

_DISCONNECTED = wasyncore._DISCONNECTED  # the errors waitress's send() takes for a client gone


class SendsFiles(HTTPChannel):
    """A connection that lets a file answer's file send itself."""

    def _flush_some(self, do_close: bool = True) -> bool:
        # waitress's own, except that a file answer whose file can send itself (a FileSpan)
        # goes out with sendfile(): no block read into a bytes object and sent again.
        sent = 0
        while True:
            outbuf = self.outbufs[0]
            remaining = outbuf.__len__()
            file = getattr(outbuf, "file", None) if type(outbuf) is ReadOnlyFileBasedBuffer else None
            send_to = getattr(file, "send_to", None)
            while remaining > 0:
                if send_to is not None:
                    count = self._send_file(send_to, remaining, do_close)
                else:
                    count = self.send(outbuf.get(self.sendbuf_len), do_close=do_close)
                if not count:
                    break
                outbuf.skip(count, True)
                remaining -= count
                sent += count
                self.total_outbufs_len -= count
            if remaining > 0 or len(self.outbufs) == 1:
                break  # the socket is full, or everything is sent
            finished = self.outbufs.pop(0)
            try:
                finished.close()
            except Exception:
                self.logger.exception("Unexpected error when closing an outbuf")
        if sent:
            self.last_activity = time.time()
        return sent > 0

    def _send_file(self, send_to: Callable[[int, int], int], size: int, do_close: bool) -> int:
        """Up to ``size`` bytes of a file answer sent by its file; 0 when the socket takes no more."""
        try:
            count = send_to(self._fileno, size)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno not in _DISCONNECTED:
                raise
            if do_close:
                self.handle_close()
            return 0
        if not count:  # the file ends before the length announced: the answer cannot be finished
            self.will_close = True
        return count
