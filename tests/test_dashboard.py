"""The dashboard's server side: pages under a strict policy, the APIs its charts read, Swagger UI at home.

The pages themselves are driven in a real browser by tests/test_dashboard_browser.py.
"""

from __future__ import annotations

import re

import pytest

from mediacache import create_app
from tests.helpers import finished_entry, make_settings

PAGES = ("/", "/library", "/admin", "/sign-in", "/entries/6f0c2c55-1b0e-4b9b-9a59-0f1d6b1f3e2a")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_html_under_a_policy_without_inline_script_or_style(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/html"
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'" and policy["connect-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    assert "<style" not in page and " style=" not in page and not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "nothing from another origin"
    assert response.headers.get("Set-Cookie") is None


def test_an_entry_page_escapes_the_id_it_was_asked_for(client):
    page = client.get('/entries/"><img src=x onerror=alert(1)>').get_data(as_text=True)
    assert "<img src=x" not in page and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_media_may_play_from_the_configured_file_roots(configured):
    _, client, _ = configured(PUBLIC_URL="https://media.example.org", EXTERNAL_ENDPOINTS="https://cdn.example.net/m/")
    policy = client.get("/library").headers["Content-Security-Policy"]
    assert "media-src 'self' https://media.example.org https://cdn.example.net;" in policy


def test_the_pages_scripts_and_styles_are_served_from_this_origin(client):
    page = client.get("/").get_data(as_text=True)
    for asset in re.findall(r'(?:src|href)="(/assets/[^"]+)"', page):
        response = client.get(asset)
        assert response.status_code == 200, asset
    assert client.get("/assets/js/watch.js").mimetype in ("text/javascript", "application/javascript")


def test_api_docs_load_swagger_ui_from_this_origin(client):
    response = client.get("/api/docs")
    page = response.get_data(as_text=True)
    assert "unpkg" not in page and not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    policy = response.headers["Content-Security-Policy"]
    assert "https:" not in policy and "script-src 'self'" in policy
    for asset in re.findall(r'(?:src|href)="(/assets/vendor/[^"]+)"', page):
        assert client.get(asset).status_code == 200, asset


def test_daily_stats_count_queue_calls_and_file_hits_per_day(app, client, admin):
    from mediacache.db.extensions import db
    from mediacache.db.models import RequestLog
    from mediacache.media.hits import get_access_counter

    media_id = finished_entry(app)
    with app.app_context():
        db.session.add(RequestLog(username="admin", media_id=media_id, url="https://music.example/song",
                                  status_code=201, outcome="created"))  # fmt: skip
        db.session.commit()
    name = client.get(f"/api/media/{media_id}", headers=admin).json["path"]
    assert client.get(name).status_code == 200 and client.get(name).status_code == 200
    with app.app_context():
        get_access_counter(app).flush()
    body = client.get("/api/stats/daily?days=30", headers=admin).json
    assert body["days"] == 30 and len(body["series"]) == 30
    today = body["series"][-1]
    assert today["date"] == body["to"] and today == {"date": body["to"], "queued": 1, "served": 2}
    assert all(day["queued"] == day["served"] == 0 for day in body["series"][:-1])
    assert [day["date"] for day in body["series"]] == sorted(day["date"] for day in body["series"])


def test_daily_stats_default_to_30_days_and_refuse_a_range_out_of_bounds(client, user):
    assert len(client.get("/api/stats/daily", headers=user).json["series"]) == 30
    for days in ("0", "367", "x"):
        response = client.get(f"/api/stats/daily?days={days}", headers=user)
        assert response.status_code == 400 and response.json["error"]["code"] == "VALIDATION_ERROR", days
    assert client.get("/api/stats/daily").status_code == 401


def test_the_request_log_gives_one_entrys_lines_to_its_requester_and_admins(client, admin, user, media_server):
    url = media_server.url("/media/tone.mp3")
    first = client.post("/api/media/queue", json={"url": url}, headers=user).json["id"]
    client.post("/api/media/queue", json={"url": url, "profile": "ogg-opus"}, headers=user)
    mine = client.get(f"/api/logs?format=json&media_id={first}", headers=user).json["items"]
    assert [line["media_id"] for line in mine] == [first]
    assert client.get(f"/api/logs?format=json&media_id={first}", headers=admin).json["items"] == []  # admin's own log
    everyone = client.get(f"/api/logs?format=json&media_id={first}&user=*", headers=admin).json["items"]
    assert [line["user"] for line in everyone] == ["player"]
    assert first in client.get(f"/api/logs?media_id={first}", headers=user).get_data(as_text=True)


def test_a_database_from_before_version_10_gains_the_daily_served_table(tmp_path):
    from sqlalchemy import inspect, text

    from mediacache.db.database import SCHEMA_VERSION
    from mediacache.db.extensions import db

    settings = make_settings(tmp_path)
    app = create_app(settings)
    with app.app_context():
        db.session.execute(text("DROP TABLE daily_served"))
        db.session.execute(text("UPDATE schema_version SET version = 5"))
        db.session.commit()
    app.extensions["mediacache.jobs"].shutdown()
    restarted = create_app(settings)
    try:
        with restarted.app_context():
            assert "daily_served" in inspect(db.engine).get_table_names()
            assert db.session.execute(text("SELECT version FROM schema_version")).scalar() == SCHEMA_VERSION
    finally:
        restarted.extensions["mediacache.jobs"].shutdown()


def test_the_new_api_is_in_the_openapi_document(client):
    paths = client.get("/api/openapi.json").json["paths"]
    daily = {p["name"]: p for p in paths["/api/stats/daily"]["get"]["parameters"]}
    assert daily["days"]["schema"]["maximum"] == 366 and daily["days"]["schema"]["minimum"] == 1
    assert "media_id" in {p["name"] for p in paths["/api/logs"]["get"]["parameters"]}
    for page in ("/", "/library", "/admin", "/sign-in", "/entries/{media_id}"):
        assert "text/html" in paths[page]["get"]["responses"]["200"]["content"], page
