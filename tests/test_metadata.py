"""Title cleaning and artist detection on real-world-shaped titles."""

from __future__ import annotations

import pytest

from mediacache.sources.metadata import clean_title, describe_info, split_artist_title

CLEANED = [
    ("Rick Astley - Never Gonna Give You Up (Official Music Video)", "Rick Astley - Never Gonna Give You Up"),
    (
        "Daft Punk - Get Lucky (Official Audio) ft. Pharrell Williams, Nile Rodgers",
        "Daft Punk - Get Lucky ft. Pharrell Williams, Nile Rodgers",
    ),
    ("Queen – Bohemian Rhapsody (Official Video Remastered)", "Queen – Bohemian Rhapsody (Official Video Remastered)"),
    ("Adele - Hello [HD]", "Adele - Hello"),
    ("Linkin Park - Numb [Official Music Video] [4K UPGRADE]", "Linkin Park - Numb [4K UPGRADE]"),
    ("Billie Eilish - bad guy (Lyrics)", "Billie Eilish - bad guy"),
    ("The Weeknd - Blinding Lights (Audio)", "The Weeknd - Blinding Lights"),
    ("Drake - God's Plan (Official Lyric Video)", "Drake - God's Plan"),
    ("Mark Ronson - Uptown Funk (feat. Bruno Mars) (Official Video)", "Mark Ronson - Uptown Funk (feat. Bruno Mars)"),
    ("Calvin Harris - Summer (R3hab & Ummet Ozcan Remix)", "Calvin Harris - Summer (R3hab & Ummet Ozcan Remix)"),
    ("Nirvana - Come As You Are (Live) [HD]", "Nirvana - Come As You Are (Live)"),
    ("Ed Sheeran - Perfect (Acoustic) [Official Audio]", "Ed Sheeran - Perfect (Acoustic)"),
    ("Eminem - Lose Yourself [HQ]", "Eminem - Lose Yourself"),
    ("Gorillaz - Feel Good Inc. (Official Video) [HD]", "Gorillaz - Feel Good Inc."),
    ("Coldplay - Yellow | Official Video", "Coldplay - Yellow"),
    ("Imagine Dragons - Believer // Lyric Video", "Imagine Dragons - Believer"),
    ("Dua Lipa - Levitating (Official Visualizer)", "Dua Lipa - Levitating"),
    (
        "Tame Impala - The Less I Know The Better (Official Video) (Explicit)",
        "Tame Impala - The Less I Know The Better",
    ),
    ("Avicii - Levels (Radio Edit)", "Avicii - Levels (Radio Edit)"),
    ("Kendrick Lamar - HUMBLE. (Official Music Video) ", "Kendrick Lamar - HUMBLE."),
    ("Flleeppyy - Traumatic Glitch [Free Download]", "Flleeppyy - Traumatic Glitch"),
    (
        "Porter Robinson - Shelter (Official Video) (Short Film with A-1 Pictures & Crunchyroll)",
        "Porter Robinson - Shelter (Short Film with A-1 Pictures & Crunchyroll)",
    ),
    ("PSY - GANGNAM STYLE(강남스타일) M/V", "PSY - GANGNAM STYLE(강남스타일) M/V"),
    ("BTS (방탄소년단) 'Dynamite' Official MV", "BTS (방탄소년단) 'Dynamite' Official MV"),
    (
        "Lofi Girl - lofi hip hop radio 📚 - beats to relax/study to",
        "Lofi Girl - lofi hip hop radio 📚 - beats to relax/study to",
    ),
    ("Artist - Song (Official Video) - ", "Artist - Song"),
    ("Some Song ()", "Some Song"),
    ('Radiohead - "Creep"', 'Radiohead - "Creep"'),
    ('"Creep" (Official Audio)', "Creep"),
    ("Bad Bunny - Tití Me Preguntó (Video Oficial)", "Bad Bunny - Tití Me Preguntó"),
    ("Daft Punk - Around the World (Official Audio / HD)", "Daft Punk - Around the World"),
    ("Song Title (Instrumental)", "Song Title (Instrumental)"),
    ("Song Title (feat. Someone) [Official Lyric Video]", "Song Title (feat. Someone)"),
    (
        "Justin Bieber - Peaches ft. Daniel Caesar, Giveon (Official Music Video)",
        "Justin Bieber - Peaches ft. Daniel Caesar, Giveon",
    ),
]


@pytest.mark.parametrize("raw, expected", CLEANED)
def test_clean_title(raw, expected):
    assert clean_title(raw) == expected


@pytest.mark.parametrize(
    "title, artist, rest",
    [
        ("Rick Astley - Never Gonna Give You Up", "Rick Astley", "Never Gonna Give You Up"),
        ("Queen – Bohemian Rhapsody", "Queen", "Bohemian Rhapsody"),
        ("AC/DC — Thunderstruck", "AC/DC", "Thunderstruck"),
        ("Jay-Z - 99 Problems", "Jay-Z", "99 Problems"),
        ("No separator here", None, "No separator here"),
        ("Artist - Title - Extended Mix", "Artist", "Title - Extended Mix"),
    ],
)
def test_split_artist_title(title, artist, rest):
    assert split_artist_title(title) == (artist, rest)


def test_artist_is_split_from_the_title_when_the_source_gives_none():
    info = {"title": "Rick Astley - Never Gonna Give You Up (Official Music Video)", "extractor_key": "Generic"}
    meta = describe_info(info)
    assert (meta["artist"], meta["title"]) == ("Rick Astley", "Never Gonna Give You Up")


def test_known_artist_keeps_the_title_whole():
    info = {"title": "Get Lucky (Official Audio)", "artists": ["Daft Punk"], "album": "RAM", "release_year": 2013}
    meta = describe_info(info)
    assert (meta["artist"], meta["title"], meta["album"], meta["year"]) == ("Daft Punk", "Get Lucky", "RAM", 2013)


def test_dont_clean_title_keeps_it_exactly():
    info = {"title": "Adele - Hello [HD]", "artist": "Adele"}
    assert describe_info(info, clean=False)["title"] == "Adele - Hello [HD]"


def test_youtube_topic_channel_becomes_the_artist():
    info = {"title": "Levels", "uploader": "Avicii - Topic", "extractor_key": "Youtube", "upload_date": "20111028"}
    meta = describe_info(info)
    assert (meta["artist"], meta["year"]) == ("Avicii", 2011)


def test_file_tags_win_over_a_generic_page_title():
    info = {"title": "tone-4711", "extractor_key": "Generic", "webpage_url": "http://x/tone.mp3"}
    meta = describe_info(info, file_tags={"title": "Sine Song", "artist": "Test Artist", "genre": "electronic"})
    assert (meta["title"], meta["artist"], meta["genre"]) == ("Sine Song", "Test Artist", ["electronic"])


def test_quick_audio_facts_agree_with_ffmpegs_probe(media_folder):
    """The mutagen shortcut must decide remux-or-encode exactly as ffmpeg's probe would."""
    from mediacache.sources.ffmpeg import find_ffmpeg, probe
    from mediacache.sources.metadata import audio_streams

    quick = audio_streams(media_folder / "tone.mp3")
    full = probe(find_ffmpeg(None), media_folder / "tone.mp3")
    assert quick.audio_codec == full.audio_codec == "mp3"
    assert abs(quick.bitrate - full.bitrate) <= 0.05 * full.bitrate
    assert abs(quick.duration - full.duration) < 0.1 and quick.video_codec is None
    assert audio_streams(media_folder / "tone.webm") is None  # mutagen reads no Matroska (matroska.py does)
    assert audio_streams(media_folder / "clip.mp4") is None


def test_a_nul_inside_an_id3v23_text_tag_becomes_a_space(media_folder, tmp_path):
    """mutagen splits ID3v2.3 text at NUL into a list; the value must not be cut at the NUL."""
    import shutil

    from mutagen.id3 import ID3, TALB, TCON, TIT2, TPE1

    from mediacache.sources.metadata import read_tags

    path = tmp_path / "evil.mp3"
    shutil.copy(media_folder / "tone.mp3", path)
    tags = ID3()
    tags.add(TIT2(encoding=1, text="Evil\x00Title"))
    tags.add(TPE1(encoding=1, text="Bad\x00Artist"))
    tags.add(TALB(encoding=1, text="Some\x00Album"))
    tags.add(TCON(encoding=1, text="Rock"))
    tags.save(path, v2_version=3, v23_sep=None)  # written with the NUL, as an attacker would
    assert ID3(path).version[:2] == (2, 3)
    read = read_tags(path)
    assert (read["title"], read["artist"], read["album"]) == ("Evil Title", "Bad Artist", "Some Album")
    meta = describe_info({"title": "page title", "extractor_key": "Generic"}, file_tags=read)
    assert (meta["title"], meta["artist"], meta["album"], meta["genre"]) == (
        "Evil Title",
        "Bad Artist",
        "Some Album",
        ["Rock"],
    )
