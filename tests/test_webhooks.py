"""Completion webhooks (issue 18): every final state reaches every registered URL, signed, retried, never lost."""

from __future__ import annotations

import re
import signal
import time
from datetime import timedelta

import pytest
from sqlalchemy import inspect, text

from mediacache.db.database import SCHEMA_VERSION
from mediacache.db.extensions import db
from mediacache.db.webhook_models import WebhookDelivery
from mediacache.media.webhooks import KEEP_DAYS, purge_old_deliveries
from mediacache.sources.netguard import AddressPolicy
from mediacache.sources.webhook_http import post_json
from tests.helpers import (
    ADMIN_PASSWORD,
    ROOT,
    LiveServer,
    auth_header,
    eventually,
    make_settings,
    queue_and_wait,
    restarted_from,
    wait_for_entry,
)
from tests.webhook_receiver import Receiver

FAST = {"WEBHOOK_RETRY_BASE_DELAY": 0.05}


@pytest.fixture
def receiver():
    """A loopback receiver that answers 200 unless told otherwise."""
    server = Receiver().start()
    yield server
    server.stop()


def readme_verify():
    """The README's signature check, run as written."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Verifying a signature") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    namespace: dict = {}
    exec(code, namespace)
    return namespace["verify"]


def delivery_rows(app) -> list[WebhookDelivery]:
    """Every outbox row, as the database has it now."""
    with app.app_context():
        rows = db.session.scalars(db.select(WebhookDelivery)).all()
        db.session.expunge_all()
        return rows


def wait_for_state(app, state: str, timeout: float = 30) -> WebhookDelivery:
    """The one delivery once it is in ``state`` (the sender writes it right after the try)."""

    def delivery_in_state():
        rows = delivery_rows(app)
        return rows[0] if rows and rows[0].state == state else None

    return eventually(
        delivery_in_state,
        timeout=timeout,
        interval=0.02,
        failure=lambda _: [(row.state, row.attempts, row.last_error) for row in delivery_rows(app)],
    )


def test_completion_reaches_every_registered_callback_signed_as_the_readme_verifies(
    app, client, admin, user, media_server, receiver
):
    secret = client.put("/api/users/me/webhook", json={"url": receiver.url("/default")}, headers=admin).json["secret"]
    url = media_server.url("/media/tone.mp3")
    first = client.post("/api/media/queue", json={"url": url, "callback_url": receiver.url("/call")}, headers=admin)
    assert first.status_code == 201, first.json
    # Another account queues the same entry: its URL is registered too, signed with its own secret.
    second = client.post("/api/media/queue", json={"url": url, "callbackUrl": receiver.url("/other")}, headers=user)
    assert second.status_code in (409, 200), second.json
    user_secret = client.post("/api/users/me/webhook/secret", headers=user).json["secret"]

    received = receiver.wait_for(3)
    entry = wait_for_entry(client, first.json["id"], admin)
    assert entry["status"] == "completed"
    by_path = {request.path: request for request in received}
    assert set(by_path) == {"/default", "/call", "/other"}
    verify = readme_verify()
    for path, request in by_path.items():
        payload = request.payload
        assert set(payload) == {"event", "id", "delivered_at", "entry"}
        assert payload["event"] == "media.completed" == request.headers["X-Mediacache-Event"]
        assert payload["id"] == request.headers["X-Mediacache-Event-Id"]
        assert payload["entry"]["id"] == entry["id"] and payload["entry"]["status"] == "completed"
        assert payload["entry"]["endpoints"] == entry["endpoints"]
        key = user_secret if path == "/other" else secret
        assert verify(key, request.body, request.headers["X-Mediacache-Signature"])
        assert not verify(key, request.body + b" ", request.headers["X-Mediacache-Signature"])
        assert not verify("whsec_wrong", request.body, request.headers["X-Mediacache-Signature"])
    assert len({request.payload["id"] for request in received}) == 3
    assert len(receiver.received) == 3


def test_a_collection_callback_gets_one_post_per_entry_it_queued(client, admin, media_server, receiver):
    items = ("/media/tone.mp3", "/media/other.mp3", "/media/tone.mp3")
    listing = media_server.url("/list.rss?" + "&".join(f"item={path}" for path in items))
    created = client.post(
        "/api/collections", json={"url": listing, "callback_url": receiver.url("/album")}, headers=admin
    )
    assert created.status_code == 201, created.json
    entry_ids = {item["entry_id"] for item in created.json["items"]}
    assert len(entry_ids) == 2  # the duplicate item shares its entry, and its one POST

    received = receiver.wait_for(2)
    assert {request.payload["entry"]["id"] for request in received} == entry_ids
    assert {request.payload["event"] for request in received} == {"media.completed"}
    refused = client.post("/api/collections", json={"url": listing, "callback_url": "ftp://x/"}, headers=admin)
    assert refused.status_code == 400 and refused.json["error"]["code"] == "INVALID_CALLBACK_URL"


def test_receiver_answering_500_twice_then_200_gets_exactly_three_tries_with_one_event_id(
    configured, media_server, receiver
):
    app, client, admin = configured(**FAST)
    receiver.answers = [500, 500, 200]
    queued = client.post("/api/media/queue", headers=admin,
                         json={"url": media_server.url("/media/tone.mp3"), "callback_url": receiver.url()})  # fmt: skip
    assert queued.status_code == 201, queued.json
    received = receiver.wait_for(3)
    delivery = wait_for_state(app, "delivered")
    assert delivery.attempts == 3 and delivery.last_status == 200 and delivery.next_attempt_at is None
    assert {request.headers["X-Mediacache-Event-Id"] for request in received} == {delivery.id}
    assert len(receiver.received) == 3  # delivered: never sent again

    listed = client.get("/api/webhooks/deliveries", headers=admin).json
    assert listed["pagination"]["total"] == 1
    item = listed["items"][0]
    assert item["id"] == delivery.id and item["state"] == "delivered" and item["attempts"] == 3
    assert item["max_attempts"] == 6 and item["media_id"] == queued.json["id"]


def test_a_receiver_failing_every_try_ends_failed_with_its_last_error(configured, media_server, receiver):
    app, client, admin = configured(WEBHOOK_ATTEMPTS=2, **FAST)
    receiver.answers = [503, 503]
    queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), callback_url=receiver.url())
    delivery = wait_for_state(app, "failed")
    assert delivery.attempts == 2 and delivery.last_status == 503 and delivery.last_error == "HTTP 503"
    assert len(receiver.wait_for(2)) == 2


def test_failed_entry_delivers_media_failed(client, admin, media_server, receiver):
    body = queue_and_wait(client, admin, media_server.url("/status/404"), completed=False,
                          callback_url=receiver.url())  # fmt: skip
    assert body["status"] == "failed"
    payload = receiver.wait_for(1)[0].payload
    assert payload["event"] == "media.failed"
    assert payload["entry"]["status"] == "failed" and payload["entry"]["error"] == body["error"]


def test_entry_already_completed_when_queued_with_a_callback_still_gets_its_delivery(
    client, admin, media_server, receiver
):
    url = media_server.url("/media/tone.mp3")
    done = queue_and_wait(client, admin, url)
    again = client.post("/api/media/queue", json={"url": url, "callback_url": receiver.url()}, headers=admin)
    assert again.status_code == 409 and again.json["error"]["code"] == "ALREADY_CACHED"
    payload = receiver.wait_for(1)[0].payload
    assert payload["event"] == "media.completed" and payload["entry"]["id"] == done["id"]


def test_redirect_is_not_followed(configured, media_server, receiver):
    app, client, admin = configured(WEBHOOK_ATTEMPTS=1)
    receiver.answers = [302]
    queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), callback_url=receiver.url("/moved"))
    delivery = wait_for_state(app, "failed")
    assert delivery.last_status == 302 and "redirects are not followed" in delivery.last_error
    assert [request.path for request in receiver.received] == ["/moved"]


def test_a_receiver_that_never_answers_is_cut_off_at_the_timeout(configured, media_server, receiver):
    app, client, admin = configured(WEBHOOK_ATTEMPTS=1, WEBHOOK_TIMEOUT=0.3)
    receiver.hold.clear()
    queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), callback_url=receiver.url())
    delivery = wait_for_state(app, "failed")
    assert delivery.last_error == "no answer within 0.3 s" and delivery.last_status is None
    receiver.hold.set()


def test_private_callback_refused_at_registration_and_nothing_is_queued(configured):
    _, client, admin = configured(ALLOW_PRIVATE_URLS=False)
    private = ("http://127.0.0.1:9/hook", "http://10.1.2.3/", "http://[::1]/", "http://localhost/x")
    carried = (
        "http://[::10.0.0.1]/",
        "http://[::ffff:0:a00:1]/",
        "http://[2002:a00:1::]/",
        "http://[64:ff9b:1::a00:1]/",
    )
    for url in (*private, *carried):
        response = client.post("/api/media/queue", json={"url": "https://example.org/a.mp3", "callback_url": url},
                               headers=admin)  # fmt: skip
        assert response.status_code == 400, response.json
        assert response.json["error"]["code"] == "CALLBACK_URL_NOT_ALLOWED", url
        put = client.put("/api/users/me/webhook", json={"url": url}, headers=admin)
        assert put.status_code == 400 and put.json["error"]["code"] == "CALLBACK_URL_NOT_ALLOWED"
    malformed = ("http://[::1", "http://[zz]/", "http://a]/", "http://[2606:4700::1111]junk/", "http://h:99999/",
                 "http://1.1.1.1:0/")  # fmt: skip
    for url in ("ftp://example.org/x", "not a url", "https://user:pw@example.org/", "https://", 42, *malformed):
        response = client.post("/api/media/queue", json={"url": "https://example.org/a.mp3", "callback_url": url},
                               headers=admin)  # fmt: skip
        assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_CALLBACK_URL", url
    for url in malformed:
        put = client.put("/api/users/me/webhook", json={"url": url}, headers=admin)
        assert put.status_code == 400 and put.json["error"]["code"] == "INVALID_CALLBACK_URL", url
    assert client.put("/api/users/me/webhook", json={"url": "https://[2606:4700::1111]:8443/x"}, headers=admin).json[
        "url"
    ]  # a well-formed bracketed host with a port is fine
    assert client.get("/api/media", headers=admin).json["pagination"]["total"] == 0


def test_the_guard_is_applied_again_when_connecting(receiver):
    # Registered while allowed, refused at the try: the address is checked where the socket connects.
    result = post_json(receiver.url(), b"{}", {}, AddressPolicy(allow_private=False), timeout=5)
    assert not result.delivered and "private or local address" in result.error
    assert receiver.received == []


@pytest.mark.parametrize("loopback", ["[::127.0.0.1]", "[::ffff:0:7f00:1]", "[2002:7f00:1::]", "[64:ff9b:1::7f00:1]"])
def test_a_delivery_to_an_ipv6_form_of_loopback_is_refused_when_connecting(receiver, loopback):
    url = receiver.url().replace("127.0.0.1", loopback)
    result = post_json(url, b"{}", {}, AddressPolicy(allow_private=False), timeout=5)
    assert not result.delivered and "private or local address" in result.error
    assert receiver.received == []


def test_secret_is_shown_once_and_delete_removes_the_default(client, admin, media_server, receiver):
    assert client.get("/api/users/me/webhook", headers=admin).json == {
        "url": None, "secret": None, "secret_set": False, "created_at": None, "updated_at": None}  # fmt: skip
    first = client.put("/api/users/me/webhook", json={"url": receiver.url("/a")}, headers=admin).json
    assert first["url"] == receiver.url("/a") and first["secret"].startswith("whsec_")
    second = client.put("/api/users/me/webhook", json={"url": receiver.url("/b")}, headers=admin).json
    assert second["secret"] is None and second["secret_set"]
    shown = client.get("/api/users/me/webhook", headers=admin).json
    assert shown["url"] == receiver.url("/b") and shown["secret"] is None
    rotated = client.post("/api/users/me/webhook/secret", headers=admin).json["secret"]
    assert rotated.startswith("whsec_") and rotated != first["secret"]

    assert client.delete("/api/users/me/webhook", headers=admin).status_code == 204
    assert client.get("/api/users/me/webhook", headers=admin).json["url"] is None
    queue_and_wait(client, admin, media_server.url("/media/tone.mp3"))
    assert client.get("/api/webhooks/deliveries", headers=admin).json["pagination"]["total"] == 0
    assert receiver.received == []


def test_deliveries_list_shows_own_to_users_and_all_to_admins(client, admin, user, media_server, receiver):
    queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), callback_url=receiver.url("/admin"))
    queue_and_wait(client, user, media_server.url("/media/other.mp3"), callback_url=receiver.url("/user"))
    receiver.wait_for(2)
    mine = client.get("/api/webhooks/deliveries", headers=user).json
    assert [item["url"] for item in mine["items"]] == [receiver.url("/user")]
    everyone = client.get("/api/webhooks/deliveries?limit=1", headers=admin).json
    assert everyone["pagination"] == {"page": 1, "limit": 1, "total": 2, "pages": 2, "has_next": True,
                                      "has_prev": False}  # fmt: skip
    user_id = mine["items"][0]["user_id"]
    only = client.get(f"/api/webhooks/deliveries?user_id={user_id}", headers=admin).json
    assert only["pagination"]["total"] == 1
    assert client.get("/api/webhooks/deliveries?state=bogus", headers=user).status_code == 400


def test_stopping_cuts_a_try_off_and_leaves_it_pending(configured, media_server, receiver):
    app, client, admin = configured()
    receiver.hold.clear()
    queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), callback_url=receiver.url())
    receiver.wait_for(1)
    app.extensions["mediacache.webhooks"].stop(timeout=5)
    (delivery,) = delivery_rows(app)
    assert delivery.state == "pending" and delivery.attempts == 0  # the next start sends it
    receiver.hold.set()


def test_a_user_token_sees_the_payload_entry_as_its_own_poll_does(client, user, media_server, receiver):
    body = queue_and_wait(client, user, media_server.url("/media/tone.mp3"), callback_url=receiver.url())
    entry = receiver.wait_for(1)[0].payload["entry"]
    for key in ("id", "url", "status", "valid", "path", "endpoints", "profile", "size_bytes", "completed_at"):
        assert entry[key] == body[key], key


@pytest.mark.e2e
@pytest.mark.parametrize("stop", ["sigkill", "sigterm"])
def test_a_delivery_survives_a_stop_between_the_job_finishing_and_the_post(tmp_path, media_server, receiver, stop):
    server = LiveServer(tmp_path, MEDIACACHE_ADMIN_PASSWORD=ADMIN_PASSWORD, MEDIACACHE_ALLOW_PRIVATE_URLS="true",
                        MEDIACACHE_STOP_TIMEOUT="3")  # fmt: skip
    server.start()
    try:
        token = server("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})[2]["token"]
        receiver.hold.clear()  # the POST is held: the job has finished, its delivery has not
        body = {"url": media_server.url("/media/tone.mp3"), "callback_url": receiver.url()}
        status, _, entry = server("POST", "/api/media/queue", headers=auth_header(token), body=body)
        assert status == 201, entry
        first = receiver.wait_for(1)[0]
        if stop == "sigkill":
            server.kill()
        else:  # a polite stop cuts the held try off at once instead of waiting for it
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(3 + 5)  # the stop's own bound, and the interpreter's exit
    finally:
        server.stop()
    receiver.hold.set()  # the killed server's connection gets its answer, which reaches no one

    server.start()
    try:
        second = receiver.wait_for(2)[1]
        assert second.headers["X-Mediacache-Event-Id"] == first.headers["X-Mediacache-Event-Id"]
        assert second.payload["entry"]["id"] == entry["id"] and second.payload["event"] == "media.completed"
        token = server("POST", "/api/login", body={"username": "admin", "password": ADMIN_PASSWORD})[2]["token"]
        deadline = time.monotonic() + 30
        while (listed := server("GET", "/api/webhooks/deliveries", headers=auth_header(token))[2])["items"][0][
            "state"
        ] != "delivered":
            assert time.monotonic() < deadline, listed
            time.sleep(0.05)
        assert listed["items"][0]["attempts"] == 1 and listed["pagination"]["total"] == 1
    finally:
        server.stop()


def test_a_database_from_before_webhooks_gains_their_tables(tmp_path):
    drops = [f"DROP TABLE {table}" for table in ("webhook_deliveries", "webhook_registrations", "webhook_accounts")]
    restarted = restarted_from(make_settings(tmp_path), 5, *drops)
    with restarted.app_context():
        tables = set(inspect(db.engine).get_table_names())
        assert {"webhook_deliveries", "webhook_registrations", "webhook_accounts"} <= tables
        assert db.session.execute(text("SELECT version FROM schema_version")).scalar() == SCHEMA_VERSION


def test_finished_deliveries_are_forgotten_after_their_keeping_time(client, admin, app, media_server, receiver):
    queue_and_wait(client, admin, media_server.url("/media/tone.mp3"), callback_url=receiver.url())
    wait_for_state(app, "delivered")
    with app.app_context():
        assert purge_old_deliveries() == 0
        db.session.execute(db.update(WebhookDelivery).values(
            created_at=WebhookDelivery.created_at - timedelta(days=KEEP_DAYS + 1)))  # fmt: skip
        db.session.commit()
        assert purge_old_deliveries() == 1
    assert client.get("/api/webhooks/deliveries", headers=admin).json["pagination"]["total"] == 0


def test_openapi_documents_the_webhook_routes_the_callback_url_and_the_payload(client):
    document = client.get("/api/openapi.json").json
    assert {"/api/users/me/webhook", "/api/users/me/webhook/secret", "/api/webhooks/deliveries"} <= set(
        document["paths"]
    )
    assert set(document["paths"]["/api/users/me/webhook"]) == {"get", "put", "delete"}
    queue = document["paths"]["/api/media/queue"]["post"]
    assert "callback_url" in {parameter["name"] for parameter in queue["parameters"]}
    callback = queue["callbacks"]["mediaFinished"]["{$request.body#/callback_url}"]["post"]
    payload = callback["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(document["components"]["schemas"][payload]["properties"]) == {"event", "id", "delivered_at", "entry"}
    assert {header["name"] for header in callback["parameters"]} == {
        "X-Mediacache-Event-Id", "X-Mediacache-Event", "X-Mediacache-Signature"}  # fmt: skip
    assert "CALLBACK_URL_NOT_ALLOWED" in str(queue["responses"]["400"])


def test_retry_registers_the_default_webhook_for_the_new_run(client, admin, media_server, receiver):
    client.put("/api/users/me/webhook", json={"url": receiver.url()}, headers=admin)
    failed = queue_and_wait(client, admin, media_server.url("/status/404"), completed=False)
    first = receiver.wait_for(1)[0].payload
    assert client.post(f"/api/media/{failed['id']}/retry", headers=admin).status_code == 202
    wait_for_entry(client, failed["id"], admin)
    # Not merely the second POST: on a loaded machine the first delivery may be tried again (the same id).
    second = eventually(
        lambda: next((post.payload for post in receiver.received if post.payload["id"] != first["id"]), None),
        timeout=60,
    )
    assert first["event"] == second["event"] == "media.failed"


def test_a_delivery_a_commit_sends_while_the_outbox_looks_is_tried_once(app, client, admin, receiver):
    """The outbox reads which tries are under way, then the due rows; a commit's own send between the two
    must not make the outbox try the same delivery beside it (the receiver would get it twice)."""
    import threading

    from sqlalchemy import event

    from mediacache.jobs.webhook_sender import get_sender

    client.put("/api/users/me/webhook", json={"url": receiver.url()}, headers=admin)
    with app.app_context():
        delivery = WebhookDelivery(user_id=1, media_id="m" * 32, url=receiver.url(), event="media.completed", entry={})
        db.session.add(delivery)
        db.session.commit()
        event_id = delivery.id
        engine = db.engine
    sender = get_sender(app)
    receiver.hold.clear()  # tries stay under way until released
    passes = []
    second_pass = threading.Event()

    def between_the_two_reads(conn, cursor, statement, parameters, context, executemany):
        if threading.current_thread().name != "webhook-outbox" or "next_attempt_at <=" not in statement:
            return
        passes.append(statement)
        if len(passes) == 1:
            sender.send_now([event_id])  # as a job's commit would, after the outbox read what was under way
            receiver.wait_for(1)
        else:
            second_pass.set()

    event.listen(engine, "before_cursor_execute", between_the_two_reads)
    try:
        sender.wake()
        eventually(lambda: len(passes) >= 1)
        sender.wake()  # a second look: the first pass has handed out whatever it was going to by then
        assert second_pass.wait(30)
        receiver.hold.set()
        wait_for_state(app, "delivered")
    finally:
        event.remove(engine, "before_cursor_execute", between_the_two_reads)
        receiver.hold.set()
    assert [post.payload["id"] for post in receiver.received] == [event_id]
