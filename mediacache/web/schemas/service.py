"""Schemas of the service as a whole: what it offers, and what operators ask of it.

Inputs and answers of routes/system.py (GET /api), routes/admin.py (jobs in bulk, runtime
settings, the audit log) and routes/service.py (request logs, daily stats).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from .base import InputSchema, PageSchema, WholeNumber

MAX_STATS_DAYS = 366


class MediaProfile(Schema):
    name = fields.String()
    extension = fields.String()
    mime_type = fields.String()
    audio_codec = fields.String(allow_none=True)
    video_codec = fields.String(allow_none=True)
    bitrate = fields.Dict(allow_none=True, metadata={"description": "min, max and default in bits per second"})
    resolutions = fields.List(fields.String(), allow_none=True)
    default_resolution = fields.String(allow_none=True)


class ServiceInfo(Schema):
    """GET /api."""

    status = fields.String()
    version = fields.String()
    media_profiles = fields.Dict(keys=fields.String(), values=fields.Nested(MediaProfile))
    default_profile = fields.String()
    cache_stats = fields.Dict()
    cache_endpoints = fields.List(fields.String())
    limits = fields.Dict()


# --- administration ------------------------------------------------------------------


class IdsSchema(InputSchema):
    ids = fields.List(fields.String(validate=validate.Length(max=64)), required=True,
                      validate=validate.Length(min=1, max=1000))  # fmt: skip


class SettingValueSchema(InputSchema):
    value = fields.Raw(required=True, allow_none=True)
    error_codes = {"value": "INVALID_SETTING"}


class ActivityFilterSchema(PageSchema):
    action = fields.String()
    actor = fields.String()


# --- request logs and stats ----------------------------------------------------------


class LogFilterSchema(PageSchema):
    since = fields.DateTime(load_default=None)
    until = fields.DateTime(load_default=None)
    user = fields.String(load_default=None)
    format = fields.String(load_default="text", validate=validate.OneOf(("text", "json")))
    media_id = fields.String(load_default=None, validate=validate.Length(max=64),
                             metadata={"description": "Only the lines of this entry"})  # fmt: skip
    error_codes = {"since": "VALIDATION_ERROR", "until": "VALIDATION_ERROR"}


class DailyStatsSchema(InputSchema):
    days = WholeNumber(load_default=30, validate=validate.Range(min=1, max=MAX_STATS_DAYS),
                       metadata={"description": "How many UTC days back, today included"})  # fmt: skip
