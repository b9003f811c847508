"""Starting and running mediacache's waitress: the one waitress patch, declared with its tested range.

``make_server`` builds a waitress server whose connections are ``Channel``s; ``serve`` runs it
where the installed waitress is one this package was tested with, and waitress as released
where it is not.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.server import BaseWSGIServer, create_server

from .. import declare
from .channel import Channel
from .connections import limit_connections, run_loop
from .mainloop import Dispatcher

PATCH = declare("waitress main loop", "waitress", ">=3.0.2,<3.1")


def make_server(
    app,
    main_loop_paths: re.Pattern | None = None,
    header_timeout: float | None = None,
    on_shutdown: Callable[[], None] | None = None,
    body_timeout: float | None = None,
    max_connections_per_address: int = 0,
    waiting_requests: Callable[[str, str], bool] | None = None,
    waiting_threads: int = 0,
    **options,
):
    """A waitress server (any of ``waitress.serve``'s options) whose connections are ``Channel``s.

    GET and HEAD requests for ``main_loop_paths`` are offered to ``app`` on the main loop first.
    A connection whose request headers take longer than ``header_timeout`` seconds is closed,
    and so is one whose request body takes longer than ``body_timeout`` seconds after its headers.
    A connection from a client address that already holds ``max_connections_per_address`` is
    closed unanswered (0: no such limit).
    ``on_shutdown`` runs when the loop stops, before waitress waits for its request threads.
    GET requests for which ``waiting_requests(path, query)`` is true (they may wait for long) are
    served by up to ``waiting_threads`` threads of their own, never by the ``threads`` of the rest.
    The loop uses ``poll`` unless ``asyncore_use_poll=False`` is passed.
    """
    options.setdefault("asyncore_use_poll", True)  # select() fails on descriptors past 1,024
    dispatcher = Dispatcher(main_loop_paths, on_shutdown, waiting_requests, waiting_threads)
    dispatcher.set_thread_count(Adjustments(**options).threads)
    # create_server's _dispatcher is marked a test shim, but it is its only way in (tests guard it).
    listeners: dict = {}  # waitress's socket map: one listener per address, then the connections
    server = create_server(app, map=listeners, _dispatcher=dispatcher, **options)
    for listener in listeners.values():
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = Channel
            limit_connections(listener, header_timeout, body_timeout, max_connections_per_address)
    server.socket_map = listeners
    return server


def serve(app, **options) -> None:
    """Serve ``app`` until interrupted (options as for ``make_server``), then close every socket.

    With a waitress this was not tested with (``PATCH``'s range), waitress runs as released.
    """
    if not PATCH.applies():
        _serve_as_released(app, **options)
        return
    server = make_server(app, **options)
    try:
        try:
            run_loop(server.socket_map, server.adj.asyncore_loop_timeout)
        except (SystemExit, KeyboardInterrupt):
            # As waitress's run() does: wait a moment for the request threads, then give up on them.
            server.task_dispatcher.shutdown()
    finally:
        # Nobody is answered from now on: refuse new connections instead of leaving them in the backlog.
        wasyncore.close_all(server.socket_map, ignore_all=True)


def _serve_as_released(
    app,
    main_loop_paths=None,
    header_timeout=None,
    on_shutdown=None,
    body_timeout=None,
    max_connections_per_address=0,
    waiting_requests=None,
    waiting_threads=0,
    **options,
) -> None:
    """waitress's own server and loop: no main-loop answers, timeouts or per-address limit; ``on_shutdown`` runs.

    Requests that wait share the one pool, so it grows by ``waiting_threads`` to leave the others theirs.
    """
    if waiting_requests is not None:
        options["threads"] = options.get("threads", Adjustments.threads) + waiting_threads
    try:
        create_server(app, **options).run()
    finally:
        if on_shutdown is not None:
            on_shutdown()
