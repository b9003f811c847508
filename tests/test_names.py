"""File and download names made from a source's artist and title (core/names.py)."""

from __future__ import annotations

from mediacache.core.names import MAX_NAME_LENGTH, attachment_name, safe_file_name


def test_a_very_long_artist_cannot_crowd_the_title_out_of_a_name():
    artist = "Orchestra " * 500
    stored, download = safe_file_name(artist, "The Real Title", "mp3"), attachment_name(artist, "The Real Title", "mp3")
    assert stored.endswith("the-real-title.mp3") and len(stored) <= MAX_NAME_LENGTH + len(".mp3")
    assert download.endswith("The Real Title.mp3") and len(download) <= MAX_NAME_LENGTH + len(".mp3")


def test_short_names_are_artist_then_title():
    assert safe_file_name("Test Artist", "Sine Song", "ogg") == "test-artist-sine-song.ogg"
    assert attachment_name("Test Artist", "Sine Song", "ogg") == "Test Artist - Sine Song.ogg"
    assert attachment_name("A" * 300, None, "ogg") == "A" * MAX_NAME_LENGTH + ".ogg"  # no title: the artist may fill it
