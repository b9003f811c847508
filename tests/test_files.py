"""GET|HEAD /cache/<id>/<file>: public, conditional, ranged, only while valid, never outside static_cache/."""

from __future__ import annotations

import logging
import os

import pytest

from mediacache.web.routes.files import FileSpan
from tests.helpers import flask_dispatches, wait_for_entry


@pytest.fixture
def served(client, admin, media_server):
    """A completed entry whose file is being served."""
    response = client.post(
        "/api/media/queue", json={"url": media_server.url("/media/tone.mp3"), "ttl": 600}, headers=admin
    )
    body = wait_for_entry(client, response.json["id"], admin)
    assert body["status"] == "completed"
    return body


def test_file_is_public_with_type_cors_and_bounded_cache_control(client, served):
    response = client.get(served["path"])
    assert response.status_code == 200
    assert response.mimetype == "audio/mpeg"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert int(response.headers["Content-Length"]) == served["size_bytes"]
    max_age = response.cache_control.max_age
    assert 0 < max_age <= 600
    assert response.headers["ETag"] and response.headers["Last-Modified"]


def test_head_gives_the_headers_without_a_body(client, served):
    response = client.head(served["path"])
    assert response.status_code == 200 and response.data == b""
    assert int(response.headers["Content-Length"]) == served["size_bytes"]


def test_range_request_gets_206_with_the_exact_bytes(client, served):
    whole = client.get(served["path"]).data
    response = client.get(served["path"], headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.data == whole[100:200]
    assert response.headers["Content-Range"] == f"bytes 100-199/{len(whole)}"


def test_a_range_of_the_whole_file_is_still_a_206(client, served):
    """Browsers open media with ``bytes=0-``; some players want a 206 back before they will seek."""
    response = client.get(served["path"], headers={"Range": "bytes=0-"})
    assert response.status_code == 206 and len(response.data) == served["size_bytes"]
    assert response.headers["Content-Range"] == f"bytes 0-{served['size_bytes'] - 1}/{served['size_bytes']}"


def test_flask_view_answers_a_file_as_the_shortcut_does(app, client, served, monkeypatch):
    """The view behind the shortcut (reached when the shortcut steps aside) gives the same answer."""
    asked = {"Range": "bytes=5-24"}
    shortcut = client.get(served["path"], headers=asked)
    shortcuts = app.extensions["mediacache.shortcuts"]  # inside the request cycle and CORS
    monkeypatch.setattr(shortcuts, "routes", [])
    dispatched = flask_dispatches(app, monkeypatch)
    view = client.get(served["path"], headers=asked)
    assert dispatched == [served["path"]]
    assert (view.status_code, view.data) == (shortcut.status_code, shortcut.data) == (206, shortcut.data)
    same = ("Content-Range", "Content-Length", "Content-Type", "ETag", "Cache-Control", "Access-Control-Allow-Origin")
    assert [view.headers[name] for name in same] == [shortcut.headers[name] for name in same]


def test_suffix_range_and_unsatisfiable_range(client, served):
    whole = client.get(served["path"]).data
    assert client.get(served["path"], headers={"Range": "bytes=-10"}).data == whole[-10:]
    response = client.get(served["path"], headers={"Range": f"bytes={len(whole) + 10}-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(whole)}"  # what a player needs to ask again


def test_conditional_requests_get_304(client, served):
    first = client.get(served["path"])
    assert client.get(served["path"], headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    since = first.headers["Last-Modified"]
    assert client.get(served["path"], headers={"If-Modified-Since": since}).status_code == 304


def test_deleted_entry_file_is_404(client, admin, served):
    client.delete(f"/api/media/{served['id']}", headers=admin)
    response = client.get(served["path"])
    assert response.status_code == 404 and response.json["error"]["code"] == "NOT_FOUND"


def test_file_past_its_ttl_is_not_served_even_before_the_sweep(app, client, served):
    from datetime import timedelta

    from tests.helpers import shift

    shift(app, served["id"], expires_at=timedelta(hours=1))
    assert client.get(served["path"]).status_code == 404


@pytest.mark.parametrize(
    "suffix",
    [
        "other.mp3",
        "..%2F..%2Finstance%2Fmediacache.db",
        "%2e%2e/%2e%2e/instance/secret_key",
        "..\\..\\x",
        "%252e%252e%252fsecret_key",
        "a%00.mp3",
    ],
)
def test_wrong_or_escaping_names_are_404(client, served, suffix):
    response = client.get(f"/cache/{served['id']}/{suffix}")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/cache/../instance/mediacache.db",
        "/cache/.tmp/x",
        "/cache/x/../../secret_key",
        "/private_cache/",
        "/instance/secret_key",
    ],
)
def test_nothing_outside_the_entry_folder_is_reachable(client, served, path):
    assert client.get(path).status_code == 404


def test_a_browser_is_told_the_file_name_even_when_it_is_not_ascii(app, client, served):
    from pathlib import Path
    from urllib.parse import quote

    assert client.get(served["path"]).headers["Content-Disposition"].startswith("inline; filename=")
    # Rename the served file as a title in another script would name it, and point the row at it.
    from mediacache.db import media_repo
    from mediacache.db.extensions import db

    folder = Path(app.config["STATIC_CACHE"]) / served["id"]
    name = "Ёлка - Дед Мороз.mp3"
    next(folder.iterdir()).rename(folder / name)
    with app.app_context():
        media_repo.change(served["id"], file_name=name)
        db.session.commit()
    response = client.get(f"/cache/{served['id']}/{quote(name)}")
    assert response.status_code == 200
    assert f"filename*=UTF-8''{quote(name, safe='')}" in response.headers["Content-Disposition"]


def test_every_file_answer_counts_one_hit_and_carries_the_common_headers(client, admin, served, caplog):
    with caplog.at_level(logging.INFO, logger="mediacache.request"):
        whole = client.get(served["path"])
    (line,) = [record for record in caplog.records if record.name == "mediacache.request"]
    assert (line.route, line.status) == ("/cache/<media_id>/<file_name>", 200)  # logged and counted as the route
    ranged = client.get(served["path"], headers={"Range": "bytes=0-99"})
    cached = client.get(served["path"], headers={"If-None-Match": whole.headers["ETag"]})
    refused = client.get(served["path"], headers={"Range": f"bytes={served['size_bytes'] + 10}-"})
    assert [r.status_code for r in (whole, ranged, cached, refused)] == [200, 206, 304, 416]
    # The refused range was not a play, and answering it did not count the request twice.
    assert client.get(f"/api/media/{served['id']}", headers=admin).json["hits"] == 3
    for response in (whole, ranged, cached, refused):
        assert response.headers["X-Request-ID"] and response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_served_file_is_answered_in_front_of_flask_and_a_missing_one_by_flask(app, client, served, monkeypatch):
    dispatched = flask_dispatches(app, monkeypatch)
    assert client.get(served["path"], headers={"Range": "bytes=0-9"}).status_code == 206
    assert client.head(served["path"]).status_code == 200
    assert dispatched == []
    missing = client.get(served["path"] + ".bak")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "NOT_FOUND"
    assert dispatched == [served["path"] + ".bak"]


def test_if_range_gets_the_range_only_while_the_copy_is_current(client, served):
    whole = client.get(served["path"])
    current = client.get(served["path"], headers={"Range": "bytes=10-19", "If-Range": whole.headers["ETag"]})
    assert current.status_code == 206 and current.data == whole.data[10:20]
    stale = client.get(served["path"], headers={"Range": "bytes=10-19", "If-Range": '"an-older-copy"'})
    assert stale.status_code == 200 and stale.data == whole.data  # a resumed download must start over


def test_several_ranges_at_once_get_the_whole_file(client, served):
    """Multipart answers are not offered; RFC 9110 lets a server ignore Range rather than refuse it."""
    whole = client.get(served["path"]).data
    response = client.get(served["path"], headers={"Range": "bytes=0-9,20-29"})
    assert response.status_code == 200 and response.data == whole


def test_head_of_a_range_and_a_304_carry_headers_but_no_body(client, served):
    ranged = client.head(served["path"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and ranged.data == b""
    assert ranged.headers["Content-Length"] == "100" and ranged.headers["Content-Range"].startswith("bytes 0-99/")
    etag = ranged.headers["ETag"]
    cached = client.get(served["path"], headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.data == b""
    assert cached.headers["ETag"] == etag and "Content-Type" not in cached.headers
    assert cached.headers["Cache-Control"].startswith("public, max-age=")


def test_a_file_span_reads_like_a_file_of_exactly_its_bytes(tmp_path):
    """What any server's file wrapper does with it: seek around, read blocks to the end."""
    path = tmp_path / "data"
    path.write_bytes(bytes(range(256)) * 4)
    descriptor = os.open(path, os.O_RDONLY)
    span = FileSpan(descriptor, 100, 300)
    assert span.seekable() and span.tell() == 0
    assert span.seek(0, os.SEEK_END) == 200 and span.read(10) == b""
    span.seek(0)
    blocks = iter(lambda: span.read(64), b"")
    assert b"".join(blocks) == path.read_bytes()[100:300]
    span.seek(-50, os.SEEK_END)
    assert span.read() == path.read_bytes()[250:300] and span.tell() == 200
    span.seek(-500, os.SEEK_CUR)  # never before the span's start
    assert span.tell() == 0
    span.close()
    span.close()  # twice is harmless: the descriptor is closed once, never a number reused since
    with pytest.raises(OSError):
        os.fstat(descriptor)
    dropped = os.open(path, os.O_RDONLY)
    FileSpan(dropped, 0, 10)  # never sent, never closed by a server
    with pytest.raises(OSError):
        os.fstat(dropped)


def test_a_file_is_answered_in_front_of_flask_even_when_its_entry_must_be_read_again(app, client, served, monkeypatch):
    """The file shortcut runs with no app context; it takes one only to read a stale entry from the database."""
    from flask import has_app_context

    from mediacache.db import media_repo
    from mediacache.db.extensions import db
    from mediacache.db.models import Media
    from mediacache.media import render as presenter

    monkeypatch.setattr(presenter, "SNAPSHOT_LIFETIME", 0)  # every lookup reads the database
    with app.app_context():  # and any write to the table drops the snapshots already taken
        media_repo.change(served["id"], hits=Media.hits)
        db.session.commit()
    dispatched = flask_dispatches(app, monkeypatch)
    assert not has_app_context()
    response = client.get(served["path"], headers={"Range": "bytes=0-9"})
    assert response.status_code == 206 and len(response.data) == 10
    assert dispatched == []


def test_a_suffix_range_longer_than_the_file_gets_all_of_it_as_206(client, served):
    """RFC 9110 §14.1.2: a suffix longer than the representation selects the whole of it."""
    whole = client.get(served["path"]).data
    response = client.get(served["path"], headers={"Range": "bytes=-99999999"})
    assert response.status_code == 206 and response.data == whole
    assert response.headers["Content-Range"] == f"bytes 0-{len(whole) - 1}/{len(whole)}"
    assert client.get(served["path"], headers={"Range": "bytes=-0"}).status_code == 416  # no byte at all


@pytest.mark.parametrize(
    "asked",
    ["items=0-1", "bytes=0x10-20", "bytes=1-2,-", "bytes=", "bytes=5-2", "bytes=-", "bytes=١-٢", "bytes 0-1", "0-1"],
)
def test_a_range_of_an_unknown_unit_or_bad_syntax_is_ignored(client, served, asked):
    """RFC 9110 §14.2: a server ignores a Range it does not understand, it does not refuse it."""
    whole = client.get(served["path"]).data
    response = client.get(served["path"], headers={"Range": asked})
    assert response.status_code == 200 and response.data == whole and "Content-Range" not in response.headers


def test_the_range_unit_is_case_insensitive(client, served):
    whole = client.get(served["path"]).data
    response = client.get(served["path"], headers={"Range": "Bytes=10-19"})
    assert response.status_code == 206 and response.data == whole[10:20]


def test_if_range_with_a_date_gets_the_range_only_for_exactly_the_last_modified_date(client, served):
    """RFC 9110 §13.1.5: a date validator matches only if it is exactly Last-Modified; later is not newer."""
    whole = client.get(served["path"])
    modified = whole.headers["Last-Modified"]
    exact = client.get(served["path"], headers={"Range": "bytes=10-19", "If-Range": modified})
    assert exact.status_code == 206 and exact.data == whole.data[10:20]
    for other in ("Fri, 01 Jan 2100 00:00:00 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", "not a date"):
        answer = client.get(served["path"], headers={"Range": "bytes=10-19", "If-Range": other})
        assert answer.status_code == 200 and answer.data == whole.data, other


def test_if_range_with_a_weak_validator_gets_the_whole_file(client, served):
    """RFC 9110 §13.1.5: If-Range compares strongly, so a weak validator never matches."""
    whole = client.get(served["path"])
    weak = client.get(served["path"], headers={"Range": "bytes=10-19", "If-Range": "W/" + whole.headers["ETag"]})
    assert weak.status_code == 200 and weak.data == whole.data
