"""Floor servers for the poll and file benchmarks, under the same waitress settings as mediacache.

python -m bench.floors wsgi|flask|file|wsgi-stock|wsgi-loop PORT BODY_FILE

Floors run on mediacache's waitress (``mediacache.patches.waitress``), so a ratio measures the
application, not the server; ``wsgi-stock`` is the bare callable on waitress as released,
and ``wsgi-loop`` the bare callable answered on the main loop, as mediacache answers polls
from memory: the ceiling of that design.
"""

from __future__ import annotations

import re
import sys

import waitress

from mediacache.patches.waitress import serve


def bare_wsgi(body: bytes):
    """The least any WSGI app can do: return fixed bytes."""
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]

    def app(environ, start_response):
        start_response("200 OK", headers)
        return [body]

    return app


def bare_file(path: str):
    """Waitress's ceiling for files: one file for any path, a single byte range honoured, no checks."""
    import os
    import re

    size = os.path.getsize(path)

    def app(environ, start_response):
        handle = open(path, "rb")  # noqa: SIM115 (waitress closes it once sent)
        start, stop, status = 0, size, "200 OK"
        headers = [("Content-Type", "audio/mpeg"), ("Accept-Ranges", "bytes")]
        wanted = re.fullmatch(r"bytes=(\d+)-(\d+)", environ.get("HTTP_RANGE", ""))
        if wanted:
            start, stop, status = int(wanted.group(1)), min(int(wanted.group(2)) + 1, size), "206 Partial Content"
            headers.append(("Content-Range", f"bytes {start}-{stop - 1}/{size}"))
            handle.seek(start)
        start_response(status, [*headers, ("Content-Length", str(stop - start))])
        return environ["wsgi.file_wrapper"](handle, 256 * 1024)

    return app


def one_route_flask(body: bytes):
    """A one-route Flask app returning the same JSON document."""
    import json

    from flask import Flask, jsonify

    app = Flask("floor")
    document = json.loads(body)

    @app.get("/api/media/<media_id>")
    def media(media_id):
        return jsonify(document)

    return app


if __name__ == "__main__":
    kind, port, body_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    from pathlib import Path

    payload = Path(body_file).read_bytes()
    if kind == "file":
        application = bare_file(body_file)
    else:
        application = one_route_flask(payload) if kind == "flask" else bare_wsgi(payload)  # wsgi, wsgi-*
    import logging

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # as mediacache does
    if kind == "wsgi-stock":
        waitress.serve(application, host="127.0.0.1", port=port, threads=8, ident="floor", _quiet=True)
    elif kind == "wsgi-loop":
        serve(application, main_loop_paths=re.compile("/"), host="127.0.0.1", port=port, threads=8, ident="floor")
    else:
        serve(application, host="127.0.0.1", port=port, threads=8, ident="floor")
