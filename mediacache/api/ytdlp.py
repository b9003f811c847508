"""Metadata without downloading: ``/api/ytdlp``."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .. import lookup
from ..schemas import LookupSchema
from .access import login_required
from .params import load

bp = Blueprint("ytdlp", __name__, url_prefix="/api/ytdlp")


@bp.route("", methods=["GET", "POST"])
@login_required
def lookup_url():
    """Normalized metadata for ``url``: an object, or a list for a playlist/feed."""
    args = load(LookupSchema())
    return jsonify(lookup.lookup(args["url"], raw=args["raw"], clean=not args["dont_clean_title"]))


@bp.route("/<ref>", methods=["GET", "POST"])
@login_required
def lookup_reference(ref: str):
    """The same for a cache entry's id or a YouTube video id."""
    args = load(LookupSchema())
    url = lookup.url_for_reference(ref)
    return jsonify(lookup.lookup(url, raw=args["raw"], clean=not args["dont_clean_title"]))
