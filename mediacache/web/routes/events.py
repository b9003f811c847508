"""The event stream (issue 18): Server-Sent Events about the caller's entries."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Blueprint, Flask, current_app, request

from ...accounts.authcache import auth_cache
from ...accounts.tokens import token_is_dead
from ...media import waiting
from ...media.events import KINDS
from ...patches.waitress import PEER_GONE, UNSENT_BYTES
from ..access import login_required, me, presented_token
from ..openapi import documented
from ..params import load, request_roots
from ..schemas.media import EventsSchema
from .media import asks_to_wait

bp = Blueprint("events", __name__, url_prefix="/api/events")
# One event of the stream; its data is the JSON {event, id, at, entry} (README, "Being told when it is ready").
SERVER_SENT_EVENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "event": {"type": "string", "enum": list(KINDS)},
        "data": {"type": "string"},
        "retry": {"type": "integer"},
    },
}
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # the second: nginx must not buffer it


@bp.get("")
@login_required
@documented(
    "Server-Sent Events about your entries (an admin: all): media.progress, media.completed, media.failed, "
    "media.deleted; resume with Last-Event-ID; a heartbeat comment while quiet",
    params=EventsSchema,
    content_type="text/event-stream",
    response=SERVER_SENT_EVENT,
    headers={
        "Last-Event-ID": ("Resume after this event id (as last_event_id).", {"type": "string", "pattern": "^[0-9]+$"})
    },
    errors=("STREAMS_FULL",),
)
def stream_events():
    """Stream events about the caller's entries until the client leaves, the server stops or the lifetime ends."""
    args = load(EventsSchema(), request.args.to_dict())
    if "Last-Event-ID" in request.headers:  # both are checked; the header (what a reconnecting client sends) wins
        header = {"last_event_id": request.headers["Last-Event-ID"].strip()}
        args["last_event_id"] = load(EventsSchema(), header)["last_event_id"]
    ids = frozenset(part.strip() for part in args["ids"].split(",") if part.strip()) if args["ids"] else None
    caller = me()
    asked = waiting.StreamRequest(
        username=None if caller.is_admin else caller.username,
        ids=ids,
        last_event_id=args["last_event_id"],
        roots=request_roots(),
        unsent_bytes=request.environ.get(UNSENT_BYTES),
        still_wanted=_still_wanted(current_app._get_current_object(), presented_token(), caller.is_admin),
    )
    if request.method == "HEAD":
        # The headers only: a HEAD must not hold a thread (of the pool that answers everyone) for a stream's life.
        return current_app.response_class(b"", mimetype="text/event-stream", headers=STREAM_HEADERS)
    body = waiting.open_stream(current_app._get_current_object(), asked, account=str(caller.id))
    return current_app.response_class(body, mimetype="text/event-stream", headers=STREAM_HEADERS)


def _still_wanted(app: Flask, token: dict, as_admin: bool) -> Callable[[], bool]:
    """Whether the stream should go on: its client is there, its token still holds, and its role is unchanged.

    A stream outlives the request that checked its token; logging out, a disabled account or an
    admin made a user must end it too (within waiting.CHECK_EVERY seconds).
    """
    peer_gone = request.environ.get(PEER_GONE)

    def check() -> bool:
        if peer_gone is not None and peer_gone():
            return False
        with app.app_context():
            principal = auth_cache(app).principal(int(token["sub"]))
            return not token_is_dead(token, principal) and principal.is_admin == as_admin

    return check


LONG_POLL_PATH = re.compile(r"/api/media/[^/]+\Z")


def waits_for_long(path: str, query: str) -> bool:
    """Whether a GET may wait for long (an event stream, a long-poll): the server gives those threads of their own."""
    return path == "/api/events" or (asks_to_wait(query) and LONG_POLL_PATH.match(path) is not None)
