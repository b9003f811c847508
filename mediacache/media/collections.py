"""Collections (issue 19): a playlist, album or feed queued in one call, each item an ordinary entry.

One flat listing under the look-up's network guard and time limit (``MEDIACACHE_LOOKUP_TIMEOUT``),
made in the request: the answer already holds every item's entry id. Items are queued through
``queueing.queue`` exactly as single calls are (reuse, restore, re-run), with the queue parameters
passed through as given; the pending cap is applied once for the whole collection.
"""

from __future__ import annotations

import time
from typing import Any

from flask import current_app
from sqlalchemy import delete, select

from ..core import names, urls
from ..core.errors import DomainError, shown
from ..core.principal import Principal
from ..core.states import Status
from ..core.timeutil import isoformat
from ..db.audit import record_activity
from ..db.extensions import db
from ..db.models import Collection, CollectionItem, Media
from ..db.pagination import MAX_LIMIT, count_rows, envelope
from ..sources import netguard
from . import entries, lookup, queueing
from .render import render_media

# An item whose entry row was removed (DELETE …?hard=entry) since it was queued.
REMOVED_ERROR = {"code": "NOT_FOUND", "message": "The entry was removed; queue the URL again."}
# Parameters that are not how items are made: the collection's own URL, and the caller's notes (in the request log).
_NOT_OPTIONS = ("url", "extra")


def create(user: Principal, args: dict[str, Any]) -> Collection:
    """List the URL's items once and queue each as an entry, in the source's order."""
    started = time.monotonic()
    source_url = urls.check_url(args["url"])
    queueing.check_options(args)  # a bad profile or ttl is refused before anything is fetched
    netguard.refuse_forbidden_target(source_url, current_app.config)
    queueing.limit_pending(user)
    limit = current_app.config["MAX_COLLECTION_ITEMS"]
    # One more than the limit: enough to know it is over, without listing a feed of thousands.
    info = lookup.extract(urls.fetch_url(source_url), max_entries=limit + 1)
    listed = _listed(info, source_url)
    if not listed:
        raise DomainError("EMPTY_COLLECTION", "The playlist or feed lists no items.")
    if len(listed) > limit:
        count = info.get("playlist_count") if isinstance(info.get("playlist_count"), int) else None
        told = f"{count} items" if count else f"more than {limit} items"
        raise DomainError(
            "TOO_MANY_ITEMS",
            f"The playlist has {told}; a collection holds at most {limit} (MEDIACACHE_MAX_COLLECTION_ITEMS). "
            "Queue a shorter playlist, or its items one by one.",
            details={"count": count, "max_items": limit},
        )
    page_url = info.get("webpage_url") or source_url
    # Queueing checks each item's host (a DNS look-up): a listing of hosts whose DNS hangs must not hold the
    # request for minutes. Items not reached within a second look-up time are kept as failed (TIMEOUT).
    deadline = started + 2 * current_app.config["LOOKUP_TIMEOUT"]
    items = [_queued(user, args, position, entry, page_url, deadline) for position, entry in enumerate(listed, 1)]
    collection = Collection(
        user_id=user.id, requested_by=user.username, url=urls.normalize_url(source_url),
        title=_text(info.get("title"), 512),
        uploader=_text(_artist_of(info), 256),
        options={name: value for name, value in args.items() if name not in _NOT_OPTIONS},
    )  # fmt: skip
    db.session.add(collection)
    db.session.flush()
    for item in items:
        item.collection_id = collection.id
    db.session.add_all(items)
    db.session.commit()
    return collection


def _listed(info: dict[str, Any], source_url: str) -> list[dict[str, Any]]:
    """The listing's entries; a URL of one item is a collection of that one item."""
    if info.get("_type") in ("playlist", "multi_video"):
        return [entry for entry in info.get("entries") or [] if isinstance(entry, dict)]
    return [{**info, "url": source_url}]


def _item_url(entry: dict[str, Any], page_url: str | None) -> str | None:
    """What to queue for an entry: its own URL (a flat entry's link, a page's media file), else None.

    An entry a page yielded carries the page as its ``webpage_url``: that is the collection, not the item.
    """
    formats = entry.get("formats") or []
    candidates = [entry.get("url"), formats[0].get("url") if len(formats) == 1 else None]
    if entry.get("webpage_url") != page_url:
        candidates.append(entry.get("webpage_url"))
    for candidate in candidates:
        if isinstance(candidate, str) and candidate[:8].lower().startswith(("http://", "https://")):
            return candidate
    return None


def _queued(
    user: Principal, args: dict[str, Any], position: int, entry: dict[str, Any], page_url: str, deadline: float
) -> CollectionItem:
    """One listed entry queued like a single call; a refusal is kept as the item's error."""
    url = _item_url(entry, page_url)
    item = CollectionItem(
        position=position, url=(url or "")[: urls.MAX_URL_LENGTH], title=_text(entry.get("title"), 512),
        artist=_text(_artist_of(entry), 256), duration=_seconds(entry.get("duration")),
    )  # fmt: skip
    if url is None:
        item.error_code, item.error_message = "UNSUPPORTED_URL", "The listing gives this item no http(s) URL."
        return item
    if time.monotonic() > deadline:
        item.error_code, item.error_message = "TIMEOUT", "Not queued: the collection took too long; queue it alone."
        return item
    try:
        # The link without its fragment (yt-dlp smuggles data into a feed item's), as a client would queue it.
        item.url = urls.fetch_url(urls.check_url(url))
        item.media_id = queueing.queue(user, args | {"url": item.url}, check_pending=False).media.id
    except DomainError as exc:
        item.error_code, item.error_message = exc.code, exc.message[:1024]
    return item


def _artist_of(info: dict[str, Any]) -> Any:
    return next((info[key] for key in ("artist", "creator", "uploader", "channel") if info.get(key)), None)


def _text(value: Any, limit: int) -> str | None:
    # A listing's words become one line each, as a file's own tags do: no control characters reach the API.
    return None if value is None else names.one_line(str(value)).strip()[:limit]


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else None


def owned(user: Principal, collection_id: str) -> Collection:
    """The caller's collection (any, for an admin); another's is as unknown as a missing one (404)."""
    collection = db.session.get(Collection, collection_id) if len(collection_id) <= 36 else None
    if collection is None or (collection.user_id != user.id and not user.is_admin):
        raise DomainError("NOT_FOUND", f"No collection {shown(collection_id)}.")
    return collection


def entry_ids(collection: Collection) -> list[str]:
    """The distinct entries the collection's items became, in the source's order."""
    query = (
        select(CollectionItem.media_id)
        .where(CollectionItem.collection_id == collection.id, CollectionItem.media_id.is_not(None))
        .order_by(CollectionItem.position)
    )
    return list(dict.fromkeys(db.session.scalars(query)))


def _items_of(collection_ids: list[str]) -> list[tuple[CollectionItem, Media | None]]:
    """The items of these collections in order, each with its entry's row (None if it has none)."""
    query = (
        select(CollectionItem, Media)
        .outerjoin(Media, Media.id == CollectionItem.media_id)
        .where(CollectionItem.collection_id.in_(collection_ids))
        .order_by(CollectionItem.collection_id, CollectionItem.position)
    )
    return [(item, media) for item, media in db.session.execute(query)]


def _item_document(item: CollectionItem, media: Media | None, roots: tuple[str, ...]) -> dict[str, Any]:
    document = {
        "position": item.position, "url": item.url, "entry_id": None, "status": "failed", "valid": False,
        "title": item.title, "artist": item.artist, "duration": item.duration, "endpoints": [],
        "error": {"code": item.error_code, "message": item.error_message} if item.error_code else REMOVED_ERROR,
    }  # fmt: skip
    if media is None:
        return document
    rendered = render_media(media, roots)
    meta = rendered["metadata"] or {}
    length = rendered["length_ms"]
    return document | {
        "entry_id": media.id, "status": rendered["status"], "valid": rendered["valid"], "error": rendered["error"],
        "endpoints": rendered["endpoints"], "title": meta.get("title") or item.title,
        "artist": meta.get("artist") or item.artist, "duration": length / 1000 if length else item.duration,
    }  # fmt: skip


def _totals(statuses: list[str]) -> dict[str, int]:
    """Items completed, failed (a refused item too) and still pending or running, and all of them."""
    completed, failed = statuses.count("completed"), statuses.count("failed")
    return {"completed": completed, "failed": failed, "pending": len(statuses) - completed - failed,
            "total": len(statuses)}  # fmt: skip


def _summary(collection: Collection) -> dict[str, Any]:
    return {
        "id": collection.id, "url": collection.url, "title": collection.title, "uploader": collection.uploader,
        "requested_by": collection.requested_by, "created_at": isoformat(collection.created_at),
        "options": collection.options or {},
    }  # fmt: skip


def document(collection: Collection, roots: tuple[str, ...]) -> dict[str, Any]:
    """The collection with its items, their entries' state, and the totals."""
    items = [_item_document(item, media, roots) for item, media in _items_of([collection.id])]
    return _summary(collection) | {"totals": _totals([item["status"] for item in items]), "items": items}


def list_collections(user: Principal, page: int, limit: int) -> dict[str, Any]:
    """One page of the caller's collections, newest first, each with its totals (no items)."""
    query = (
        select(Collection.id)
        .where(Collection.user_id == user.id)
        .order_by(Collection.created_at.desc(), Collection.id.desc())
    )
    limit = min(limit, MAX_LIMIT)
    page_ids = db.session.scalars(query.limit(limit).offset((page - 1) * limit)).all()
    rows = {row.id: row for row in db.session.scalars(select(Collection).where(Collection.id.in_(page_ids)))}
    statuses: dict[str, list[str]] = {collection_id: [] for collection_id in page_ids}
    for item, media in _items_of(list(page_ids)):
        statuses[item.collection_id].append(_status(media))
    items = [_summary(rows[cid]) | {"totals": _totals(statuses[cid])} for cid in page_ids if cid in rows]
    return envelope(items, page, limit, count_rows(query))


def _status(media: Media | None) -> str:
    """An item's status as the media object shows it (a cancelled job as failed, no entry as failed)."""
    if media is None or media.status == Status.CANCELLED:
        return "failed"
    return media.status


def playlist(collection: Collection, roots: tuple[str, ...]) -> str:
    """An extended M3U of the files being served now, in the collection's order, with titles and lengths."""
    lines = ["#EXTM3U"]
    if collection.title:
        lines.append(f"#PLAYLIST:{names.one_line(collection.title)}")
    for item in document(collection, roots)["items"]:
        if not item["endpoints"]:
            continue
        seconds = round(item["duration"]) if item["duration"] is not None else -1
        label = " - ".join(str(part) for part in (item["artist"], item["title"] or item["entry_id"]) if part)
        lines += [f"#EXTINF:{seconds},{names.one_line(label)}", item["endpoints"][0]]
    return "\n".join(lines) + "\n"


def delete_collection(user: Principal, collection_id: str, *, with_entries: bool, force: bool) -> dict[str, Any]:
    """Remove the collection; with ``with_entries``, soft-delete its entries no other collection holds."""
    collection_id = owned(user, collection_id).id  # the row is gone after the commit below
    held_here = list(dict.fromkeys(db.session.scalars(
        select(CollectionItem.media_id).where(CollectionItem.collection_id == collection_id,
                                              CollectionItem.media_id.is_not(None))
    )))  # fmt: skip
    held_elsewhere = set(db.session.scalars(
        select(CollectionItem.media_id).where(CollectionItem.media_id.in_(held_here),
                                              CollectionItem.collection_id != collection_id)
    ))  # fmt: skip
    db.session.execute(delete(CollectionItem).where(CollectionItem.collection_id == collection_id))
    db.session.execute(delete(Collection).where(Collection.id == collection_id))
    record_activity("collection_deleted", actor=user.username, target=collection_id, entries=with_entries)
    db.session.commit()
    deleted, skipped = [], []
    for media_id in held_here if with_entries else ():
        if media_id in held_elsewhere:
            message = "Another collection holds this entry; it was kept."
            skipped.append({"id": media_id, "error": {"code": "IN_ANOTHER_COLLECTION", "message": message}})
            continue
        try:
            entries.delete(user, media_id, hard=False, force=force)
        except DomainError as exc:
            skipped.append({"id": media_id, "error": {"code": exc.code, "message": exc.message}})
        else:
            deleted.append(media_id)
    return {"status": "deleted", "id": collection_id, "entries_deleted": deleted, "entries_skipped": skipped}
