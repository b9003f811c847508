"""``/cache/<id>/<file>``: the public file route, served only while the entry is valid."""

from __future__ import annotations

import math

from flask import Blueprint, send_file

from .. import entries, storage
from ..accounting import get_access_counter
from ..errors import NotFound
from ..openapi import documented
from ..timeutil import utcnow

bp = Blueprint("files", __name__)


@bp.get("/cache/<media_id>/<file_name>")
@documented("The cached file while the entry is valid (Range, ETag, 304, CORS); no token", auth="none",
            content_type="application/octet-stream", errors=("NOT_FOUND",),
            extra_responses={206: "Partial content for a Range request.", 304: "Not modified.",
                             416: "Range not satisfiable."})  # fmt: skip
def serve_file(media_id: str, file_name: str):
    """Range, ETag, Last-Modified and 304 come from werkzeug's conditional send_file."""
    media = entries.find_servable(media_id, file_name)
    path = storage.live_file(media.id, media.file_name) if media is not None else None
    if path is None:
        raise NotFound("No such file is being served (it may have expired or been deleted).")
    remaining = max(0, math.floor((media.expires_at - utcnow()).total_seconds())) if media.expires_at else 0
    get_access_counter().record(media.id)
    response = send_file(path, mimetype=media.mime_type, conditional=True, etag=True, max_age=remaining)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "Content-Length, Content-Range, Accept-Ranges, ETag"
    response.cache_control.public = True
    response.headers["Accept-Ranges"] = "bytes"
    return response
