"""schemathesis, every check, against the real server: the OpenAPI document says what the server does (issue 17.7).

The run is bounded (a fixed seed, 10 examples per operation, one worker) and touches only
what it owns: a fresh server in tmp_path, its admin, one served entry made for it (so the
media routes answer with a real media object and file), and a throwaway account that every
account change or deletion is pointed at (tests/schemathesis_hooks.py). No URL leaves the
machine: the only allowed site is ``localhost``, which the address policy refuses as local,
so every URL the fuzzer makes up is refused before any DNS look-up.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from mediacache import create_app
from tests.helpers import ADMIN_PASSWORD, ROOT, LiveServer, finished_entry, make_settings

pytestmark = [pytest.mark.e2e, pytest.mark.longest]

FAST = "100000 per minute"


@pytest.fixture
def served_entry(tmp_path) -> str:
    """A completed entry with its file, in the database the server will open: the media routes meet real data."""
    app = create_app(make_settings(tmp_path))
    try:
        return finished_entry(app)
    finally:
        app.extensions["mediacache.jobs"].shutdown()


@pytest.fixture
def admins_collection(tmp_path, served_entry) -> str:
    """A collection of the admin's holding that entry twice and an item that could not be queued."""
    from mediacache.db.extensions import db
    from mediacache.db.models import Collection, CollectionItem, User

    app = create_app(make_settings(tmp_path))
    try:
        with app.app_context():
            admin = db.session.query(User).filter_by(username="admin").one()
            collection = Collection(user_id=admin.id, requested_by="admin", url="https://music.example/album",
                                    title="Album", options={})  # fmt: skip
            db.session.add(collection)
            db.session.flush()
            db.session.add_all([
                CollectionItem(collection_id=collection.id, position=1, url="https://music.example/song",
                               media_id=served_entry),
                CollectionItem(collection_id=collection.id, position=2, url="https://music.example/song",
                               media_id=served_entry),
                CollectionItem(collection_id=collection.id, position=3, url="http://10.0.0.1/x",
                               error_code="URL_NOT_ALLOWED", error_message="private"),
            ])  # fmt: skip
            db.session.commit()
            return collection.id
    finally:
        app.extensions["mediacache.jobs"].shutdown()


@pytest.fixture
def fuzzed_server(tmp_path, served_entry, admins_collection):
    """The real server on its own files, with the per-address and per-user limits out of the fuzzer's way."""
    server = LiveServer(
        tmp_path,
        MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD,
        MEDIACACHE_SCHEDULER="false",
        MEDIACACHE_ALLOWED_DOMAINS="localhost",
        MEDIACACHE_LOGIN_RATE_LIMIT=FAST,
        MEDIACACHE_REGISTER_RATE_LIMIT=FAST,
        MEDIACACHE_QUEUE_RATE_LIMIT=FAST,
        MEDIACACHE_LOOKUP_RATE_LIMIT=FAST,
        # GET /api/events streams until the client leaves; the fuzzer reads each answer to its end, so here
        # a stream ends after a second (as it does after an hour by default), and every check still runs on it.
        MEDIACACHE_EVENTS_STREAM_LIFETIME="1",
    ).start()
    yield server
    server.stop()


def test_schemathesis_finds_nothing_with_every_check(fuzzed_server, served_entry, admins_collection, tmp_path):
    env = {
        **os.environ,
        "MEDIACACHE_FUZZ_MEDIA_ID": served_entry,
        "MEDIACACHE_FUZZ_COLLECTION_ID": admins_collection,
        "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
        "MEDIACACHE_FUZZ_BASE": fuzzed_server.base,
        "MEDIACACHE_FUZZ_PASSWORD": ADMIN_PASSWORD,
        "PYTHONPATH": str(ROOT),
    }
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(ROOT / "tests" / "schemathesis.toml"),
        "run", fuzzed_server.base + "/api/openapi.json", "--checks", "all", "--phases", "examples,coverage,fuzzing",
        "--max-examples", "10", "--seed", "17", "--workers", "1", "--request-timeout", "20", "--no-color",
    ]  # fmt: skip
    # Run from tmp_path: schemathesis keeps a cache folder where it runs.
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]
    # Every operation of the document was selected and tested: a document that lost its routes would pass too easily.
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", run.stdout)
    assert selected and selected[1] == selected[2] == selected[3] and int(selected[1]) > 40, run.stdout[-3000:]
    # The media routes were tried on the real entry too.
    assert f"GET /api/media/{served_entry} 200" in fuzzed_server.log()
    assert f"GET /api/collections/{admins_collection} 200" in fuzzed_server.log()
