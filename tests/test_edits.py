"""normalize/start/end settled into the variant (core/edits.py), its key, and the migration that stores them."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mediacache.core.edits import MAX_CLIP_SECONDS, Edits, settle_edits
from mediacache.core.errors import DomainError
from mediacache.core.loudness import Measured, plan_gain, r128_track_gain, replaygain
from mediacache.core.profiles import PROFILES, Variant
from mediacache.db.extensions import db

from .helpers import make_settings, restarted_from


def test_a_variant_without_edits_keeps_the_key_it_always_had():
    assert Variant(PROFILES["mp3"], 192000, None).key == "mp3:192000:"


@pytest.mark.parametrize(
    ("normalize", "start", "end", "suffix"),
    [(True, None, None, ":n-16"), ("-14", None, None, ":n-14"), (-14.25, None, None, ":n-14.2"),
     ("yes", "1.5", "3", ":n-16:c1.5-3"), (None, 2, None, ":c2-"), (None, None, "0.001", ":c0-0.001"),
     ("false", "0", None, ""), ("0", 0.0, "", "")],
)  # fmt: skip
def test_edits_have_one_spelling_in_the_key(normalize, start, end, suffix):
    assert settle_edits(normalize, start, end, -16).key == suffix


def test_the_longest_key_fits_the_variant_column():
    edits = settle_edits("-29.95", MAX_CLIP_SECONDS - 0.001, MAX_CLIP_SECONDS, -16)
    assert len(Variant(PROFILES["ogg-vorbis"], 256000, None, edits).key) <= 64
    assert len(Variant(PROFILES["webm-vp9"], None, "1080p", edits).key) <= 64


@pytest.mark.parametrize(
    ("normalize", "start", "end", "code"),
    [("-30.1", None, None, "INVALID_NORMALIZE"), ("maybe", None, None, "INVALID_NORMALIZE"),
     ("-4.95", None, None, "INVALID_NORMALIZE"), ("-30.04", None, None, "INVALID_NORMALIZE"),
     (None, "-0.001", None, "INVALID_CLIP"), (None, "inf", None, "INVALID_CLIP"), (None, "٣", None, "INVALID_CLIP"),
     (None, 3, 3, "INVALID_CLIP"), (None, None, "0", "INVALID_CLIP")],
)  # fmt: skip
def test_bad_edits_are_refused_with_their_code(normalize, start, end, code):
    with pytest.raises(DomainError) as refused:
        settle_edits(normalize, start, end, -16)
    assert refused.value.code == code


def test_a_plain_gain_is_planned_when_it_fits_and_a_limiter_when_it_would_clip():
    fits = plan_gain(Measured(-30.0, -27.0, 2.0, true_peak=False), -16, -2.5)
    assert (fits.gain_db, fits.limit_db) == (14.0, None)
    clips = plan_gain(Measured(-30.0, -10.0, 2.0, true_peak=False), -16, -2.5)
    assert (clips.gain_db, clips.limit_db) == (14.0, -2.5)
    silence = plan_gain(Measured(None, None, None, true_peak=False), -16, -2.5)
    assert silence.gain_db == 0 and silence.limit_db is None


def test_gain_tag_values_follow_their_references():
    assert r128_track_gain(-23.0) == "0"
    assert r128_track_gain(-13.0) == str(-10 * 256)  # Q7.8
    tags = replaygain(Measured(-14.0, -1.5, 5.0))
    assert tags["REPLAYGAIN_TRACK_GAIN"] == "-4.00 dB"
    assert float(tags["REPLAYGAIN_TRACK_PEAK"]) == pytest.approx(10 ** (-1.5 / 20), abs=1e-6)


def test_edits_say_when_the_audio_changes():
    assert not Edits().changes_audio
    assert Edits(normalize=-16).changes_audio and Edits(start_ms=10).changes_audio


def test_a_database_from_before_version_6_gains_the_edit_columns(tmp_path):
    drops = [f"ALTER TABLE media DROP COLUMN {column}" for column in ("normalize_lufs", "clip_start_ms", "clip_end_ms")]
    restarted = restarted_from(make_settings(tmp_path), 5, *drops)
    with restarted.app_context():
        columns = {row[1] for row in db.session.execute(text("PRAGMA table_info('media')"))}
        assert {"normalize_lufs", "clip_start_ms", "clip_end_ms"} <= columns
        assert db.session.execute(text("SELECT version FROM schema_version")).scalar() >= 6
