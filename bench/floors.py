"""Floor servers for the poll benchmark, under the same waitress settings as mediacache.

python -m bench.floors wsgi|flask PORT BODY_FILE
"""

from __future__ import annotations

import sys

from waitress import serve


def bare_wsgi(body: bytes):
    """The least any WSGI app can do: return fixed bytes."""
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]

    def app(environ, start_response):
        start_response("200 OK", headers)
        return [body]

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
    application = bare_wsgi(payload) if kind == "wsgi" else one_route_flask(payload)
    import logging

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # as mediacache does
    serve(application, host="127.0.0.1", port=port, threads=8, ident="floor", _quiet=True)
