"""``/cache/<id>/<file>``: the public file route, served only while the entry is valid."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import ContentRange
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date, quote_etag
from werkzeug.wsgi import wrap_file

from .. import entries, storage
from ..accounting import get_access_counter
from ..errors import NotFound
from ..openapi import documented
from ..presenter import remaining_seconds

bp = Blueprint("files", __name__)
FILE_BLOCK_SIZE = 256 * 1024


RULE = "/cache/<media_id>/<file_name>"


@bp.get(RULE)
@documented("The cached file while the entry is valid (Range, ETag, 304, CORS); no token", auth="none",
            content_type="application/octet-stream", errors=("NOT_FOUND",),
            extra_responses={206: "Partial content for a Range request.", 304: "Not modified.",
                             416: "Range not satisfiable."})  # fmt: skip
def serve_file(media_id: str, file_name: str):
    """The file with Range, ETag, Last-Modified and 304 by werkzeug's make_conditional."""
    response = file_response(request.environ, media_id, file_name)  # a 416 is raised, and sent as the envelope
    if response is None:
        raise NotFound("No such file is being served (it may have expired or been deleted).")
    return response


def file_response(environ: dict, media_id: str, file_name: str) -> Response | None:
    """The answer (200, 206 or 304) for a file that is being served; None if there is none."""
    row = entries.find_servable(media_id, file_name)
    opened = storage.open_live_file(row["id"], row["file_name"]) if row is not None else None
    if opened is None:
        return None
    handle, facts = opened
    # One header list up front: each later assignment to response.headers scans all of them.
    headers = [
        ("Content-Length", str(facts.st_size)),
        ("Last-Modified", http_date(facts.st_mtime)),
        ("ETag", quote_etag(f"{facts.st_mtime_ns:x}-{facts.st_size:x}-{facts.st_ino:x}")),
        ("Cache-Control", f"public, max-age={remaining_seconds(row)}"),
        ("Content-Disposition", _inline_name(row["file_name"])),
        *_FILE_HEADERS,
    ]
    response = current_app.response_class(
        wrap_file(environ, handle, FILE_BLOCK_SIZE), headers=headers, mimetype=row["mime_type"],
        direct_passthrough=True,
    )  # fmt: skip
    try:
        response = response.make_conditional(environ, accept_ranges=True, complete_length=facts.st_size)
    except HTTPException:  # 416: the envelope is sent instead, and the file is not
        handle.close()
        raise
    get_access_counter().record(row["id"])
    if response.status_code == 206:
        _send_range(environ, response, handle, response.content_range)
    return response


_FILE_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges, ETag"),
)


def _inline_name(file_name: str) -> str:
    """Content-Disposition for a file the browser may play: its name, RFC 5987-encoded when not ASCII."""
    if file_name.isascii():
        return f'inline; filename="{file_name}"'
    fallback = file_name.encode("ascii", "ignore").decode() or "media"
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


def _send_range(environ: dict, response, handle, byte_range: ContentRange) -> None:
    """Send a byte range in large blocks, straight from the open file where the server can.

    werkzeug answers a Range by iterating the file in 8 KiB pieces, and waitress spools
    any large iterated body through a temporary file. Waitress's own file wrapper, handed
    the file seeked to the range's start, sends exactly Content-Length bytes from it.
    """
    start, stop = byte_range.start, byte_range.stop  # what make_conditional answered with
    handle.seek(start)
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None and getattr(wrapper, "__module__", "").startswith("waitress"):
        response.response = wrapper(handle, FILE_BLOCK_SIZE)  # waitress closes the file once sent
    else:
        # Other servers' wrappers may read to the end of the file: bound it ourselves.
        response.response = _file_range(handle, stop - start)


def _file_range(handle, length: int):
    """Yield ``length`` bytes of the open file from where it stands, then close it."""
    with handle:
        while length > 0:
            block = handle.read(min(FILE_BLOCK_SIZE, length))
            if not block:
                return
            length -= len(block)
            yield block
