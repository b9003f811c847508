"""waitress, with its main loop kept from spinning, answering from memory itself when it can,
holding connections within limits and sending files with ``sendfile()``.

Every change to waitress lives in this package, one module per change, and together they are
one patch (``server.PATCH``) tied to the waitress versions they were tested with: they rest on
waitress's internals (a subclass of ``HTTPChannel`` with a copy of part of its ``service``, a
``ThreadedTaskDispatcher``, and ``create_server``'s ``_dispatcher`` test shim). Outside that
range ``serve`` runs waitress as released (no main-loop answers; every request goes to a
thread) and the log says so once.

- ``channel.py``: the connection, ``Channel``, built from the three below, and the spin it no
  longer causes (its main loop watched a socket a request thread was writing to);
- ``mainloop.py``: answers given on the main loop (``ON_MAIN_LOOP``, ``NeedsThread``, the
  dispatcher that offers a request there before a thread);
- ``connections.py``: held connections (a limit per client address, slow headers and bodies
  closed, ``poll`` past select's reach, the open-file limit);
- ``files.py``: a file that can send itself goes out with ``os.sendfile``;
- ``waiting.py``: requests that wait (long-polls, event streams) on threads of their own, and
  how much of an answer is unsent (``UNSENT_BYTES``);
- ``server.py``: ``make_server`` and ``serve``, which put them together behind the patch's range.
"""

from .channel import Channel
from .connections import raise_open_file_limit
from .mainloop import ON_MAIN_LOOP, NeedsThread
from .server import PATCH, make_server, serve
from .waiting import PEER_GONE, UNSENT_BYTES

__all__ = [
    "ON_MAIN_LOOP",
    "PATCH",
    "PEER_GONE",
    "UNSENT_BYTES",
    "Channel",
    "NeedsThread",
    "make_server",
    "raise_open_file_limit",
    "serve",
]
