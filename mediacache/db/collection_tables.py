"""Migration 7: the collections tables, written out as they were then, for databases made before them.

``db.create_all()`` already creates missing tables from the models at every start; this step
holds the shape of version 7 itself (a released step must not follow later model changes) and
skips whatever exists, so a database marked older than its shape still starts.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

_V7 = MetaData()
# Only so the foreign keys below can name them; never created here.
Table("users", _V7, Column("id", Integer, primary_key=True))
Table("media", _V7, Column("id", String(36), primary_key=True))
_COLLECTIONS = Table(
    "collections", _V7,
    Column("id", String(36), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("requested_by", String(32), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("title", String(512)),
    Column("uploader", String(256)),
    Column("options", JSON, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index("ix_collections_user_created", "user_id", "created_at"),
)  # fmt: skip
_ITEMS = Table(
    "collection_items", _V7,
    Column("id", Integer, primary_key=True),
    Column("collection_id", String(36), ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("url", String(2048), nullable=False),
    Column("title", String(512)),
    Column("artist", String(256)),
    Column("duration", Float),
    Column("media_id", String(36), ForeignKey("media.id", ondelete="SET NULL"), index=True),
    Column("error_code", String(64)),
    Column("error_message", String(1024)),
    UniqueConstraint("collection_id", "position", name="uq_collection_items_position"),
)  # fmt: skip


def create_collection_tables(connection: Connection) -> None:
    """Version 7: collections and their items (issue 19), each table and index only if missing."""
    _V7.create_all(connection, tables=[_COLLECTIONS, _ITEMS], checkfirst=True)
