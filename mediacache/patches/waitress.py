"""waitress: the main loop kept from spinning, and answers given on the main loop.

The code is in mediacache/httpserver.py for now (a subclass of ``HTTPChannel`` with a copy
of part of its ``service``, a ``ThreadedTaskDispatcher``, and ``create_server``'s
``_dispatcher`` test shim). It rests on waitress's internals, so it is tied to the versions
it was tested with: outside them ``httpserver.serve`` runs waitress as released (no main-loop
answers; every request goes to a thread).
"""

from __future__ import annotations

from . import declare

PATCH = declare("waitress main loop", "waitress", ">=3.0.2,<3.1")
