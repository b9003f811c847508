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
