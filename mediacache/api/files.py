"""``/cache/<id>/<file>``: the public file route, served only while the entry is valid."""

from __future__ import annotations

from flask import Blueprint, request, send_file

from .. import entries, storage
from ..accounting import get_access_counter
from ..errors import NotFound
from ..openapi import documented
from ..presenter import remaining_seconds

bp = Blueprint("files", __name__)
FILE_BLOCK_SIZE = 256 * 1024


@bp.get("/cache/<media_id>/<file_name>")
@documented("The cached file while the entry is valid (Range, ETag, 304, CORS); no token", auth="none",
            content_type="application/octet-stream", errors=("NOT_FOUND",),
            extra_responses={206: "Partial content for a Range request.", 304: "Not modified.",
                             416: "Range not satisfiable."})  # fmt: skip
def serve_file(media_id: str, file_name: str):
    """Range, ETag, Last-Modified and 304 come from werkzeug's conditional send_file."""
    row = entries.find_servable(media_id, file_name)
    path = storage.live_file(row["id"], row["file_name"]) if row is not None else None
    if path is None:
        raise NotFound("No such file is being served (it may have expired or been deleted).")
    get_access_counter().record(row["id"])
    response = send_file(path, mimetype=row["mime_type"], conditional=True, etag=True, max_age=remaining_seconds(row))
    if response.status_code == 206:
        _stream_range_from_file(response, path)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "Content-Length, Content-Range, Accept-Ranges, ETag"
    response.cache_control.public = True
    response.headers["Accept-Ranges"] = "bytes"
    return response


def _stream_range_from_file(response, path) -> None:
    """Send a byte range in large blocks, straight from the file where the server can.

    werkzeug answers a Range by iterating the file in 8 KiB pieces, and waitress spools
    any large iterated body through a temporary file. Waitress's own file wrapper, handed
    a file seeked to the range's start, sends exactly Content-Length bytes from it.
    """
    start, stop = response.content_range.start, response.content_range.stop
    response.response.close()
    wrapper = request.environ.get("wsgi.file_wrapper")
    if wrapper is not None and getattr(wrapper, "__module__", "").startswith("waitress"):
        handle = open(path, "rb")  # noqa: SIM115 — waitress closes it once sent
        handle.seek(start)
        response.response = wrapper(handle, FILE_BLOCK_SIZE)
    else:
        # Other servers' wrappers may read to the end of the file: bound it ourselves.
        response.response = _file_range(path, start, stop - start)
    response.direct_passthrough = True


def _file_range(path, start: int, length: int):
    """Yield ``length`` bytes of the file from ``start``."""
    with open(path, "rb") as handle:
        handle.seek(start)
        while length > 0:
            block = handle.read(min(FILE_BLOCK_SIZE, length))
            if not block:
                return
            length -= len(block)
            yield block
