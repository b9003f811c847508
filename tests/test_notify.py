"""Being told when an entry is ready (issue 18): GET /api/media/<id>?wait=N and the event stream GET /api/events."""

from __future__ import annotations

import json
import threading

import pytest

from mediacache.media.events import EventHub, get_notifier
from mediacache.media.waiting import StreamRequest, open_stream
from tests.helpers import auth_header, eventually, finished_entry, flask_dispatches, login, wait_for_entry

FINAL = ("media.completed", "media.failed", "media.deleted")


@pytest.fixture
def settings(tmp_path):
    from tests.helpers import make_settings

    return make_settings(tmp_path, EVENTS_HEARTBEAT=1)


def _queue_gated(client, headers, media_server, name: str = "tone.mp3") -> str:
    """A job held half-way through its download until ``media_server.release_gated()``."""
    response = client.post("/api/media/queue", json={"url": media_server.url(f"/gated/{name}")}, headers=headers)
    assert response.status_code == 201, response.json
    eventually(lambda: media_server.held)
    return response.json["id"]


def _release(client, headers, media_server, media_id: str) -> dict:
    """Let the gated job go on (yt-dlp may fetch the URL more than once, each held) until it ends; the entry then."""
    return wait_for_entry(client, media_id, headers, until=("completed", "failed"), timeout=60,
                          meanwhile=media_server.release_gated)  # fmt: skip


class Stream:
    """An open GET /api/events, read frame by frame (heartbeats included, as ``{"comment": …}``)."""

    def __init__(self, client, headers, query: str = "") -> None:
        self.response = client.get("/api/events" + query, headers=headers, buffered=False)
        self.chunks = iter(self.response.response)
        self.buffer = b""

    def frame(self) -> dict:
        while b"\n\n" not in self.buffer:
            self.buffer += next(self.chunks)
        raw, self.buffer = self.buffer.split(b"\n\n", 1)
        frame: dict = {}
        for line in raw.decode().splitlines():
            name, _, value = line.partition(":")
            if name == "":
                frame["comment"] = value.strip()
            elif name == "data":
                frame["data"] = frame.get("data", "") + value.removeprefix(" ")
            else:
                frame[name] = value.removeprefix(" ")
        if "data" in frame:
            frame["data"] = json.loads(frame["data"])
        return frame

    def events_until(self, done) -> list[dict]:
        """Frames with an event, up to and including the first for which ``done(frame)`` holds."""
        seen = []
        while True:
            frame = self.frame()
            if "event" in frame:
                seen.append(frame)
                if done(frame):
                    return seen

    def close(self) -> None:
        self.response.close()


def _final_for(media_id: str):
    return lambda frame: frame["data"]["id"] == media_id and frame["event"] in FINAL


# Long-poll


def test_long_poll_of_a_finished_entry_answers_at_once_without_retry_after(app, client, admin):
    media_id = finished_entry(app)
    response = client.get(f"/api/media/{media_id}?wait=30", headers=admin)
    assert response.status_code == 200 and response.json["status"] == "completed"
    assert "Retry-After" not in response.headers


# ASCII digits only (README): int() would also read a sign, spaces, underscores and other scripts' digits.
# In a query string "+" is a space; %2B is the plus sign and %D9%A3 is "٣" (Arabic-Indic three).
@pytest.mark.parametrize("wait", ["31", "-1", "abc", "1.5", "", "%2B3", "+3", "3%20", "3_0", "%D9%A3", "3.0"])
def test_long_poll_with_a_bad_wait_is_400_with_the_envelope(app, client, admin, wait):
    response = client.get(f"/api/media/{finished_entry(app)}?wait={wait}", headers=admin)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "VALIDATION_ERROR" and "wait" in response.json["error"]["message"]
    assert response.headers["X-Request-ID"] == response.json["request_id"]


def test_long_poll_answers_when_the_job_completes(app, client, admin, media_server):
    media_id = _queue_gated(client, admin, media_server)
    answers = []
    poller = threading.Thread(
        target=lambda: answers.append(app.test_client().get(f"/api/media/{media_id}?wait=30", headers=admin))
    )
    poller.start()
    eventually(lambda: get_notifier(app).long_polls.held == 1)  # it is waiting now
    _release(app.test_client(), admin, media_server, media_id)
    poller.join(60)
    assert answers and answers[0].status_code == 200
    assert answers[0].json["status"] == "completed" and answers[0].json["endpoints"]
    assert "Retry-After" not in answers[0].headers


def test_long_poll_times_out_with_the_entry_as_it_is_and_retry_after(app, client, admin, media_server):
    media_id = _queue_gated(client, admin, media_server)
    try:
        response = client.get(f"/api/media/{media_id}?wait=1", headers=admin)
        assert response.status_code == 200 and response.json["status"] == "downloading"
        assert response.headers["Retry-After"] == "1"
        assert get_notifier(app).long_polls.held == 0
    finally:
        _release(client, admin, media_server, media_id)


def test_long_poll_past_the_cap_answers_at_once_with_retry_after(configured, media_server):
    app, client, admin = configured(LONGPOLL_MAX_WAITERS=1)
    media_id = _queue_gated(client, admin, media_server)
    slots = get_notifier(app).long_polls
    assert slots.take()  # someone else holds the only slot
    try:
        response = client.get(f"/api/media/{media_id}?wait=30", headers=admin)
        assert response.status_code == 200 and response.json["status"] == "downloading"
        assert response.headers["Retry-After"] == "1"
    finally:
        slots.give_back()
        _release(client, admin, media_server, media_id)


def test_a_running_entry_has_retry_after_from_the_fast_path_and_from_flask_alike(
    app, client, media_server, monkeypatch
):
    headers = auth_header(login(client, "admin", "admin-test-password")["token"])
    media_id = _queue_gated(client, headers, media_server)
    try:
        dispatched = flask_dispatches(app, monkeypatch)
        first = client.get(f"/api/media/{media_id}", headers=headers)
        second = client.get(f"/api/media/{media_id}", headers=headers)  # from memory, in front of Flask
        assert dispatched == [f"/api/media/{media_id}"]
        assert first.headers["Retry-After"] == second.headers["Retry-After"] == "1"
        assert sorted(first.headers.keys()) == sorted(second.headers.keys())
    finally:
        _release(client, headers, media_server, media_id)


# Event stream


def test_stream_tells_a_user_of_progress_and_completion_of_their_own_entry(app, client, user, media_server):
    stream = Stream(client, user)
    try:
        assert stream.frame()["comment"].startswith("connected")
        response = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=user)
        media_id = response.json["id"]
        seen = stream.events_until(_final_for(media_id))
        kinds = [frame["event"] for frame in seen if frame["data"]["id"] == media_id]
        assert "media.progress" in kinds and kinds[-1] == "media.completed"
        done = seen[-1]
        assert done["data"]["entry"]["status"] == "completed" and done["data"]["entry"]["endpoints"]
        assert done["data"]["entry"] == client.get(f"/api/media/{media_id}", headers=user).json | {
            "hits": done["data"]["entry"]["hits"], "last_accessed_at": done["data"]["entry"]["last_accessed_at"]
        }  # fmt: skip
        assert int(done["id"]) > int(seen[0]["id"])
    finally:
        stream.close()
    assert get_notifier(app).streams.held == 0


def test_stream_never_shows_another_users_entries_and_an_admin_sees_all(app, client, admin, user, media_server):
    mine, everything = Stream(client, user), Stream(client, admin)
    try:
        admins = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=admin)
        wait_for_entry(client, admins.json["id"], admin)
        users = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.ogg")}, headers=user)
        user_id = users.json["id"]
        seen = mine.events_until(_final_for(user_id))
        assert {frame["data"]["id"] for frame in seen} == {user_id}
        seen_by_admin = everything.events_until(_final_for(user_id))
        assert {admins.json["id"], user_id} <= {frame["data"]["id"] for frame in seen_by_admin}
    finally:
        mine.close()
        everything.close()


def test_stream_with_ids_only_tells_of_those_entries(app, client, admin, media_server):
    first = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=admin).json
    stream = Stream(client, admin, f"?ids={first['id']}")
    try:
        second = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.ogg")}, headers=admin)
        wait_for_entry(client, second.json["id"], admin)
        wait_for_entry(client, first["id"], admin)
        client.delete(f"/api/media/{first['id']}", headers=admin)
        seen = stream.events_until(lambda frame: frame["event"] == "media.deleted")
        assert {frame["data"]["id"] for frame in seen} == {first["id"]}
        assert seen[-1]["data"]["entry"]["cache_state"] == "deleted" and not seen[-1]["data"]["entry"]["valid"]
    finally:
        stream.close()


def test_a_stream_resumed_with_last_event_id_replays_the_final_event_it_missed(app, client, admin, media_server):
    stream = Stream(client, admin)
    media_id = _queue_gated(client, admin, media_server)
    last_seen = stream.events_until(lambda frame: frame["data"]["id"] == media_id)[-1]["id"]
    stream.close()  # the client goes away, its entry completes meanwhile
    _release(client, admin, media_server, media_id)
    resumed = Stream(client, {**admin, "Last-Event-ID": last_seen})
    try:
        seen = resumed.events_until(_final_for(media_id))
        assert seen[-1]["event"] == "media.completed", seen[-1]["data"]["entry"]["error"]
        assert int(seen[0]["id"]) == int(last_seen) + 1
    finally:
        resumed.close()


def test_a_quiet_stream_sends_heartbeat_comments(app, client, admin):
    stream = Stream(client, admin)
    try:
        assert stream.frame()["comment"].startswith("connected")
        assert stream.frame() == {"comment": "heartbeat"}  # EVENTS_HEARTBEAT=1 here
    finally:
        stream.close()


def test_deleting_an_entry_tells_its_stream(app, client, admin):
    media_id = finished_entry(app)
    stream = Stream(client, admin)
    try:
        assert client.delete(f"/api/media/{media_id}?hard=entry", headers=admin).status_code == 204
        deleted = stream.events_until(lambda frame: frame["event"] == "media.deleted")[-1]
        assert deleted["data"]["id"] == media_id and deleted["data"]["entry"]["cache_state"] == "purged"
    finally:
        stream.close()


def test_streams_past_the_cap_are_refused_with_503_and_retry_after(configured):
    _app, client, admin = configured(EVENTS_MAX_STREAMS=1)
    held = Stream(client, admin)
    try:
        refused = client.get("/api/events", headers=admin)
        assert refused.status_code == 503 and refused.json["error"]["code"] == "STREAMS_FULL"
        assert refused.headers["Retry-After"] == "5"
    finally:
        held.close()
    again = Stream(client, admin)
    again.close()


def test_one_account_cannot_take_every_stream(configured):
    _app, client, admin = configured(EVENTS_MAX_STREAMS_PER_USER=1)
    held = Stream(client, admin)
    try:
        refused = client.get("/api/events", headers=admin)
        assert refused.status_code == 503 and refused.json["error"]["code"] == "STREAMS_FULL"
        assert "This account" in refused.json["error"]["message"] and refused.headers["Retry-After"] == "5"
        client.post("/api/users", json={"username": "other", "password": "other-pass-1"}, headers=admin)
        other = Stream(client, auth_header(login(client, "other", "other-pass-1")["token"]))
        assert other.frame()["comment"].startswith("connected")  # another account still gets one
        other.close()
    finally:
        held.close()


def _ends(stream: Stream) -> None:
    """Read the stream (heartbeats every second here) until the server ends it."""
    with pytest.raises(StopIteration):
        while True:
            stream.frame()


def test_a_stream_ends_when_its_login_is_logged_out(app, client, admin):
    client.post("/api/users", json={"username": "leaver", "password": "leaver-pass-1"}, headers=admin)
    session = login(client, "leaver", "leaver-pass-1")
    refreshed = client.post("/api/auth/refresh", headers=auth_header(session["refresh_token"])).json["token"]
    stream = Stream(client, auth_header(refreshed))
    assert stream.frame()["comment"].startswith("connected")
    assert client.post("/api/auth/logout", headers=auth_header(session["token"])).status_code == 204
    _ends(stream)
    assert get_notifier(app).streams.held == 0


@pytest.mark.parametrize("change", [{"role": "user"}, {"active": False}])
def test_a_stream_ends_when_its_account_is_demoted_or_disabled(app, client, admin, change):
    client.post("/api/users", json={"username": "second", "password": "second-pass-1", "role": "admin"}, headers=admin)
    stream = Stream(client, auth_header(login(client, "second", "second-pass-1")["token"]))
    assert stream.frame()["comment"].startswith("connected")
    assert client.patch("/api/users/second", json=change, headers=admin).status_code == 200
    _ends(stream)


def test_a_last_event_id_ahead_of_the_newest_resumes_from_now(app, client, admin):
    media_id = finished_entry(app)
    stream = Stream(client, admin)
    ahead = Stream(client, {**admin, "Last-Event-ID": str(2**62)})
    try:
        newest = stream.frame()["comment"]
        assert ahead.frame()["comment"] == newest  # "connected; events after <the newest id>"
        assert client.delete(f"/api/media/{media_id}", headers=admin).status_code == 204
        assert ahead.events_until(lambda frame: frame["event"] == "media.deleted")[-1]["data"]["id"] == media_id
    finally:
        stream.close()
        ahead.close()


@pytest.mark.parametrize("header", [{}, {"Last-Event-ID": "not-a-number"}])
def test_streams_need_a_token_and_a_valid_last_event_id(client, admin, header):
    response = client.get("/api/events", headers=header if not header else {**admin, **header})
    assert response.status_code == (401 if not header else 400)
    assert "error" in response.json


def test_a_stream_ends_when_the_server_stops(app, client, admin):
    stream = Stream(client, admin)
    stream.frame()
    get_notifier(app).hub.close()
    with pytest.raises(StopIteration):
        stream.frame()
    assert get_notifier(app).streams.held == 0


def test_a_flood_of_progress_does_not_push_a_final_event_out_of_the_replay():
    hub = EventHub(capacity=4, replay_seconds=600)
    start = hub.last_id
    hub.publish("media.completed", {"id": "done", "requested_by": "a"})
    for _ in range(10):
        hub.publish("media.progress", {"id": "busy", "requested_by": "a"})
    replayed, missed = hub.after(start)
    assert missed and [event.kind for event in replayed] == ["media.completed"] + ["media.progress"] * 4
    assert [event.id for event in replayed][1:] == list(range(hub.last_id - 3, hub.last_id + 1))


def test_a_reader_too_far_behind_is_closed_rather_than_buffered_for(app, client, admin):
    media_id = finished_entry(app)
    asked = StreamRequest(None, None, None, ("http://localhost/cache/",), unsent_bytes=lambda: 10**9)
    stream = open_stream(app, asked, account="1")
    assert next(stream).startswith(b"retry:")
    assert client.delete(f"/api/media/{media_id}", headers=admin).status_code == 204
    with pytest.raises(StopIteration):
        next(stream)
    assert get_notifier(app).streams.held == 0


def test_head_of_the_stream_answers_its_headers_and_holds_nothing(app, client, admin):
    response = client.head("/api/events", headers=admin)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    assert get_notifier(app).streams.held == 0
