"""Collections (issue 19): a playlist, album or feed queued in one call; read, list, as M3U, delete."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from ...media import collections, webhooks
from ..access import limited_per_account, login_required, me
from ..openapi import documented
from ..params import load, request_roots
from ..schemas.base import PageSchema, page_of
from ..schemas.collections import (
    CollectionCreateSchema,
    CollectionDeleted,
    CollectionDeleteSchema,
    CollectionSchema,
    CollectionSummary,
)
from .ytdlp import LOOKUP_ERRORS

bp = Blueprint("collections", __name__, url_prefix="/api/collections")
M3U_TYPE = "audio/x-mpegurl"
_UNKNOWN = ("NOT_FOUND",)


@bp.post("")
@login_required
@limited_per_account("queue_per_minute", "QUEUE_RATE_LIMIT")
@documented(
    "Queue every item of a playlist, album or feed (one listing, then one entry per item, in order); "
    "takes the queue's parameters",
    params=CollectionCreateSchema, query=True, response=CollectionSchema, status=201,
    errors=(*LOOKUP_ERRORS, "INVALID_PROFILE", "INVALID_BITRATE", "BITRATE_REQUIRES_PROFILE", "INVALID_RESOLUTION",
            "INVALID_TTL", "INVALID_EXTRA", "INVALID_NORMALIZE", "INVALID_CLIP", "INVALID_CALLBACK_URL",
            "CALLBACK_URL_NOT_ALLOWED", "TOO_MANY_ITEMS", "EMPTY_COLLECTION", "TOO_MANY_PENDING",
            "NETWORK_GUARD_FAILED"),
)  # fmt: skip
def create_collection():
    """List a playlist's items and queue each one; 201 with the collection."""
    args = load(CollectionCreateSchema())
    # As on the queue route: checked before anything is fetched, then registered for every item's entry.
    callback_url = webhooks.check_callback_url(args["callback_url"]) if args["callback_url"] is not None else None
    collection = collections.create(me(), args)
    for media_id in collections.entry_ids(collection):
        webhooks.register(me(), media_id, callback_url, request_roots())
    response = jsonify(collections.document(collection, request_roots()))
    response.status_code = 201
    response.headers["Location"] = f"/api/collections/{collection.id}"
    return response


@bp.get("")
@login_required
@documented("The caller's collections, newest first, with totals", params=PageSchema,
            response=page_of(CollectionSummary), errors=("VALIDATION_ERROR",))  # fmt: skip
def list_collections():
    """The caller's collections, newest first."""
    args = load(PageSchema())
    return jsonify(collections.list_collections(me(), args["page"], args["limit"]))


@bp.get("/<collection_id>")
@login_required
@documented("One collection: its items with their entries' ids and status, and totals", response=CollectionSchema,
            errors=_UNKNOWN)  # fmt: skip
def get_collection(collection_id: str):
    """One collection with its items and totals (the owner's or, for an admin, anyone's)."""
    return jsonify(collections.document(collections.owned(me(), collection_id), request_roots()))


@bp.get("/<collection_id>.m3u8")
@login_required
@documented("The files being served now as an extended M3U (UTF-8), in order, with titles and lengths",
            content_type=M3U_TYPE, errors=_UNKNOWN)  # fmt: skip
def collection_playlist(collection_id: str):
    """An extended M3U of the collection's served files."""
    text = collections.playlist(collections.owned(me(), collection_id), request_roots())
    return current_app.response_class(text, mimetype=M3U_TYPE)


@bp.delete("/<collection_id>")
@login_required
@documented("Remove a collection; entries=true also soft-deletes its entries that no other collection holds",
            params=CollectionDeleteSchema, response=CollectionDeleted, errors=_UNKNOWN)  # fmt: skip
def delete_collection(collection_id: str):
    """Remove a collection (and, with entries=true, its entries no other collection holds)."""
    args = load(CollectionDeleteSchema())
    return jsonify(collections.delete_collection(me(), collection_id, with_entries=args["entries"],
                                                 force=args["force"]))  # fmt: skip
