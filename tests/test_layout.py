"""The package's layering rules that import-linter cannot see: what the layers below web/ may not use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mediacache.web.errors import ERROR_STATUSES, status_for

PACKAGE = Path(__file__).resolve().parent.parent / "mediacache"
BELOW_WEB = ("core", "db", "sources", "media", "jobs", "accounts", "ops")
REQUEST_OBJECTS = {"request", "has_request_context", "g", "session"}


def modules(*layers: str) -> list[Path]:
    """Every module of the given layers."""
    return sorted(path for layer in layers for path in (PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("path", modules(*BELOW_WEB), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_nothing_below_web_imports_flasks_request_objects_or_werkzeug_exceptions(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "flask":
            assert not {alias.name for alias in node.names} & REQUEST_OBJECTS, ast.unparse(node)
        if isinstance(node, ast.ImportFrom | ast.Import):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            assert not any(name.startswith("werkzeug.exceptions") for name in names), ast.unparse(node)


def raised_codes() -> set[str]:
    """Every code the package puts into a DomainError (or a subclass), and yt-dlp's mapped codes."""
    codes = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) in ("DomainError", "JobError")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                codes.add(node.args[0].value)
            if isinstance(node, ast.Tuple) and len(node.elts) == 2 and isinstance(node.elts[1], ast.Constant):
                first = node.elts[0]
                if isinstance(first, ast.Call) and getattr(first.func, "attr", None) == "compile":
                    codes.add(node.elts[1].value)  # sources' table of yt-dlp messages → codes
    return codes


def test_every_code_the_package_raises_has_its_http_status_in_the_one_table():
    codes = raised_codes()
    assert len(codes) > 30  # the walk found the raise sites
    assert sorted(codes - ERROR_STATUSES.keys()) == []


def test_a_route_may_answer_a_code_with_its_own_status_and_the_openapi_document_says_so(client):
    assert status_for("INVALID_CREDENTIALS") == 401
    assert status_for("INVALID_CREDENTIALS", "auth.change_password") == 403
    document = client.get("/api/openapi.json").json
    responses = document["paths"]["/api/auth/change-password"]["post"]["responses"]
    assert "INVALID_CREDENTIALS" in responses["403"]["description"]


def test_valid_in_sql_is_valid_in_python_for_every_state_and_expiry(app):
    """core.states.is_valid and db.media_repo.valid_clause agree on every combination."""
    from datetime import timedelta

    from sqlalchemy import select

    from mediacache.core.states import CacheState, Status, is_valid
    from mediacache.core.timeutil import utcnow
    from mediacache.db import media_repo
    from mediacache.db.extensions import db
    from mediacache.db.models import Media

    now = utcnow()
    with app.app_context():
        expected = {}
        for status in Status:
            for state in CacheState:
                for expires_at in (None, now - timedelta(seconds=5), now + timedelta(seconds=3600)):
                    url = f"https://x.example/{len(expected)}"
                    media = media_repo.add(Media(url=url, source_url=url, variant="mp3::", profile="mp3", ttl=60,
                                                 status=status, cache_state=state, expires_at=expires_at))  # fmt: skip
                    db.session.flush()
                    expected[media.id] = is_valid(status, state, expires_at, now)
        db.session.commit()
        valid = set(db.session.scalars(select(Media.id).where(media_repo.valid_clause(now))))
    assert valid == {media_id for media_id, ok in expected.items() if ok}
    assert 0 < len(valid) < len(expected)


def test_a_write_through_the_repository_is_seen_by_the_next_poll_at_once(app, client, admin):
    """The row cache is dropped by media_repo itself: a change is visible without waiting out the snapshot."""
    from mediacache.db import media_repo
    from mediacache.db.extensions import db
    from tests.helpers import finished_entry

    media_id = finished_entry(app)
    assert client.get(f"/api/media/{media_id}", headers=admin).json["ttl"] == 3600  # now in the row cache
    with app.app_context():
        media_repo.change(media_id, ttl=60)
        db.session.commit()
    assert client.get(f"/api/media/{media_id}", headers=admin).json["ttl"] == 60
