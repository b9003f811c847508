"""URL checks and normalization: one entry per media, whatever link form a client sends."""

from __future__ import annotations

import pytest

from mediacache.core.errors import DomainError
from mediacache.core.urls import check_url, fetch_url, normalize_url, playlist_shape

WATCH = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


@pytest.mark.parametrize(
    "url, normalized",
    [
        ("https://youtu.be/dQw4w9WgXcQ", WATCH),
        ("https://youtu.be/dQw4w9WgXcQ?si=tracking123&t=42", WATCH),
        ("https://music.youtube.com/watch?v=dQw4w9WgXcQ&feature=share", WATCH),
        ("http://m.youtube.com/watch?v=dQw4w9WgXcQ", WATCH),
        ("https://YouTube.com/watch?feature=youtu.be&v=dQw4w9WgXcQ", WATCH),
        ("https://www.youtube.com/shorts/dQw4w9WgXcQ", WATCH),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=RDdQw4w9WgXcQ&index=2", WATCH),
        ("HTTPS://WWW.Example.ORG/Track/One?b=2&a=1#comments", "https://example.org/Track/One?a=1&b=2"),
        ("https://example.org:443/x?utm_source=discord&fbclid=abc&id=7", "https://example.org/x?id=7"),
        ("http://example.org:8080", "http://example.org:8080/"),
        ("https://artist.bandcamp.com/track/song", "https://artist.bandcamp.com/track/song"),
    ],
)
def test_normalize_url(url, normalized):
    assert normalize_url(url) == normalized


def test_the_fetched_url_keeps_the_clients_host_but_drops_the_fragment():
    assert fetch_url("https://www.example.org/a.mp3?x=1#t=30") == "https://www.example.org/a.mp3?x=1"
    assert fetch_url("https://youtu.be/dQw4w9WgXcQ?t=3") == WATCH


@pytest.mark.parametrize(
    "url, is_playlist",
    [
        ("https://www.youtube.com/playlist?list=PLx", True),
        ("https://www.youtube.com/watch?list=PLx", True),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PLx", False),
        ("https://artist.bandcamp.com/album/record", True),
        ("https://artist.bandcamp.com/track/song", False),
        ("https://soundcloud.com/artist/sets/tour", True),
        ("https://soundcloud.com/artist/song", False),
        ("https://example.org/album/whatever", False),
    ],
)
def test_playlist_shapes(url, is_playlist):
    assert playlist_shape(url) is is_playlist


@pytest.mark.parametrize(
    "url, code",
    [
        ("javascript:alert(1)", "UNSUPPORTED_SCHEME"),
        ("data:audio/mp3;base64,AAAA", "UNSUPPORTED_SCHEME"),
        ("ytsearch5:some song", "UNSUPPORTED_SCHEME"),
        ("just words", "INVALID_URL"),
        ("https://", "INVALID_URL"),
        ("http://example.org:99999/", "INVALID_URL"),
        ("http://1.1.1.1:0/a.mp3", "INVALID_URL"),
        ("https://exa mple.org/\n", "INVALID_URL"),
        (12345, "INVALID_URL"),
    ],
)
def test_check_url_refuses(url, code):
    with pytest.raises(DomainError) as caught:
        check_url(url)
    assert caught.value.code == code


def test_every_shape_check_matches_the_whole_value_not_up_to_a_final_newline():
    """'$' matches before a final newline; each check must refuse that newline."""
    from mediacache.core.urls import is_youtube_id
    from mediacache.media.storage import is_entry_id
    from mediacache.web.requestid import request_id_for

    entry_id = "6f0c2c55-1b0e-4b9b-9a59-0f1d6b1f3e2a"
    assert is_youtube_id("dQw4w9WgXcQ") and not is_youtube_id("dQw4w9WgXcQ\n")
    assert is_entry_id(entry_id) and not is_entry_id(entry_id + "\n")
    assert request_id_for({"HTTP_X_REQUEST_ID": "abc-1"}) == "abc-1"
    assert request_id_for({"HTTP_X_REQUEST_ID": "abc-1\n"}) != "abc-1\n"


def test_a_video_id_with_an_encoded_newline_is_not_taken_for_a_youtube_video():
    from urllib.parse import urlsplit

    from mediacache.core.urls import youtube_video_id

    assert youtube_video_id(urlsplit(WATCH)) == "dQw4w9WgXcQ"
    assert youtube_video_id(urlsplit(WATCH + "%0A")) is None
