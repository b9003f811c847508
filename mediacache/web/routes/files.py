"""``/cache/<id>/<file>``: the public file route, served only while the entry is valid."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote

from flask import Blueprint, Flask, current_app, request
from werkzeug.exceptions import HTTPException, RequestedRangeNotSatisfiable
from werkzeug.http import http_date, is_resource_modified, parse_date, quote_etag
from werkzeug.wsgi import wrap_file

from ...core import names
from ...core.errors import DomainError
from ...core.profiles import FILE_TYPES
from ...media import entries, storage
from ...media.hits import get_access_counter
from ...media.render import remaining_seconds
from ..openapi import documented

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

bp = Blueprint("files", __name__)
FILE_BLOCK_SIZE = 256 * 1024


RULE = "/cache/<media_id>/<file_name>"


@bp.get(RULE)
@documented("The cached file while the entry is valid (Range, ETag, 304, CORS); no token", auth="none",
            content_type=FILE_TYPES, errors=("NOT_FOUND",),
            extra_responses={206: "Partial content for a Range request.", 304: "Not modified.",
                             416: "Range not satisfiable."})  # fmt: skip
def serve_file(media_id: str, file_name: str):
    """The file with Range, ETag, Last-Modified and 304 (a 416 is raised, and sent as the envelope)."""
    answer = file_response(current_app._get_current_object(), request.environ, media_id, file_name)
    if answer is None:
        raise DomainError("NOT_FOUND", "No such file is being served (it may have expired or been deleted).")
    return answer


def file_response(app: Flask, environ: dict, media_id: str, file_name: str) -> WSGIApplication | None:
    """The answer (200, 206 or 304) for a file that is being served, as a WSGI app; None if there is none.

    Runs outside an app context too (the shortcut calls it so): everything it needs comes
    from ``app``, and the database is only read, in a context of its own, for an entry
    whose snapshot is stale. Pushing and popping an app context for every range was 5%
    of file throughput.

    A plain header list and werkzeug's header parsers, not a ``Response`` and its
    ``make_conditional``: with every player's browser fetching ranges at once, the
    response object's header bookkeeping was half of each request's Python. The rules are
    RFC 9110's: a range is honoured unless If-Range names an older copy (or a weak one);
    a range starting past the file is a 416; a Range of another unit or bad syntax is
    ignored; If-None-Match or If-Modified-Since may answer 304 instead of the whole file.
    Several ranges in one request get the whole file (RFC 9110 lets a server ignore Range).
    """
    row = entries.find_servable(app, media_id, file_name)
    opened = storage.open_live_file(app.config["STATIC_CACHE"], row["id"], row["file_name"]) if row else None
    if opened is None:
        return None
    descriptor, facts = opened
    size, etag = facts.st_size, quote_etag(f"{facts.st_mtime_ns:x}-{facts.st_size:x}-{facts.st_ino:x}")
    modified = int(facts.st_mtime)
    headers = [
        ("ETag", etag),
        ("Cache-Control", f"public, max-age={remaining_seconds(row)}"),
        ("Content-Disposition", content_disposition("inline", row["file_name"], row["id"])),
        ("Accept-Ranges", "bytes"),
        *_FILE_HEADERS,
    ]
    try:
        wanted = _wanted_range(environ, etag, modified, size)
    except HTTPException:  # 416: the envelope is sent instead, and the file is not
        os.close(descriptor)
        raise
    get_access_counter(app).record(row["id"])
    start, stop = wanted or (0, size)
    if wanted is not None:  # 206 even for all of it: a player that asked for a range expects one
        status = "206 Partial Content"
        headers.append(("Content-Range", f"bytes {start}-{stop - 1}/{size}"))
    elif _unchanged(environ, etag, modified):
        os.close(descriptor)
        return _answer("304 Not Modified", headers, None)  # no entity headers, as werkzeug sends it
    else:
        status = "200 OK"
    headers += [("Content-Type", row["mime_type"]), ("Content-Length", str(stop - start)),
                ("Last-Modified", _http_date(modified))]  # fmt: skip
    return _answer(status, headers, FileSpan(descriptor, start, stop))


def _wanted_range(environ: dict, etag: str, modified: int, size: int) -> tuple[int, int] | None:
    """Start and stop of the one range asked for and honoured; None to send the whole file."""
    if "HTTP_RANGE" not in environ or not size:
        return None
    if_range = environ.get("HTTP_IF_RANGE")
    if if_range is not None and not _same_copy(if_range, etag, modified):
        return None  # the client's copy is not this file: it needs all of it
    return _one_range(environ["HTTP_RANGE"], size)


def _same_copy(if_range: str, etag: str, modified: int) -> bool:
    """Whether If-Range names this very file (RFC 9110 §13.1.5): its entity tag, compared strongly
    (a weak one never matches), or exactly its Last-Modified date (not any later one)."""
    validator = if_range.strip()
    if validator.startswith(("W/", '"')):
        return validator == etag
    date = parse_date(validator)
    return date is not None and date == _moment(modified)


# One range-spec of RFC 9110 §14.1.1 in ASCII digits: first-[last], or -suffix.
_RANGE_SPEC = re.compile(r"([0-9]+)-([0-9]*)|-([0-9]+)", re.ASCII)


def _count(digits: str) -> int:
    # Past any file's size either way; int() of thousands of digits would raise.
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 30 else 10**30


def _one_range(header: str, size: int) -> tuple[int, int] | None:
    """Start and stop of a Range header's one byte range; None to ignore the header; 416 if it is outside the file.

    RFC 9110 §14.2: a Range of another unit or of bad syntax is ignored (the whole file, 200),
    not refused; several ranges get the whole file too (multipart answers are not offered).
    A suffix longer than the file selects all of it (§14.1.2).
    """
    unit, equals, specs = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    ranges = []
    for spec in specs.split(","):
        spec = spec.strip(" \t")
        if not spec:
            continue  # an empty list element is allowed (RFC 9110 §5.6.1)
        match = _RANGE_SPEC.fullmatch(spec)
        if match is None:
            return None
        first, last, suffix = match.groups()
        if suffix is not None:
            ranges.append((None, _count(suffix)))
        elif last and _count(last) < _count(first):
            return None  # "5-2" is not a range at all
        else:
            ranges.append((_count(first), _count(last) if last else None))
    if len(ranges) != 1:
        return None
    first, last = ranges[0]
    if first is None:
        if last == 0:
            raise RequestedRangeNotSatisfiable(length=size)
        return max(0, size - last), size
    if first >= size:
        raise RequestedRangeNotSatisfiable(length=size)
    return first, size if last is None else min(last + 1, size)


def _unchanged(environ: dict, etag: str, modified: int) -> bool:
    """The client's copy is this file (If-None-Match or If-Modified-Since): 304."""
    if "HTTP_IF_NONE_MATCH" not in environ and "HTTP_IF_MODIFIED_SINCE" not in environ:
        return False
    return not is_resource_modified(environ, etag, last_modified=_moment(modified))


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@lru_cache(maxsize=256)
def _http_date(seconds: int) -> str:
    # Formatting a date is a tenth of a file request; a file's modification time does not change.
    return http_date(seconds)


def _answer(status: str, headers: list[tuple[str, str]], body: FileSpan | None) -> WSGIApplication:
    """A WSGI app sending ``body`` through the server's file wrapper (or werkzeug's), which closes it once sent."""

    def send(environ: dict, start_response):
        start_response(status, headers)
        if body is None:
            return []
        if environ["REQUEST_METHOD"] == "HEAD":
            body.close()
            return []
        return wrap_file(environ, body, FILE_BLOCK_SIZE)

    return send


_FILE_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges, ETag"),
)


def content_disposition(kind: str, file_name: str, media_id: str) -> str:
    """Content-Disposition ``inline`` or ``attachment``: the name, RFC 5987-encoded when not ASCII.

    The plain ``filename`` beside it is for clients that ignore ``filename*``: the name
    transliterated, or the entry's id when nothing of it is ASCII (never a bare ".mp3").
    """
    if file_name.isascii():
        return f'{kind}; filename="{file_name}"'
    fallback = names.ascii_name(file_name, media_id)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


class FileSpan:
    """Bytes ``start`` to ``stop`` of an open file, as a file of their own, read with ``os.pread``.

    waitress's file wrapper asks its file where it stands and seeks back and forth around
    every block it sends: on a real file that is four system calls besides the send, each
    letting go of the GIL, and under load each is a hand-off between threads. Here only
    the read is a system call; the position is ours to keep. And since the span ends where
    the range does, any server's wrapper that reads to the end sends exactly the range.
    """

    def __init__(self, descriptor: int, start: int, stop: int) -> None:
        self._descriptor = descriptor  # ours to close, once
        self._start, self._stop, self._position = start, stop, start

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position - self._start

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: self._start, os.SEEK_CUR: self._position, os.SEEK_END: self._stop}[whence]
        self._position = max(self._start, base + offset)
        return self.tell()

    def read(self, size: int = -1) -> bytes:
        wanted = self._stop - self._position if size is None or size < 0 else min(size, self._stop - self._position)
        if wanted <= 0:
            return b""
        block = os.pread(self._descriptor, wanted, self._position)
        self._position += len(block)
        return block

    def send_to(self, socket_descriptor: int, size: int) -> int:
        """Send up to ``size`` bytes from where the span stands with ``os.sendfile``; the caller skips past them.

        ``mediacache.patches.waitress`` sends a span this way: no block read into a bytes object and
        sent again, and no Python between the two.
        """
        return os.sendfile(socket_descriptor, self._descriptor, self._position, min(size, self._stop - self._position))

    def close(self) -> None:
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1

    __del__ = close  # an answer dropped unsent (a client gone first) must not leak its descriptor
