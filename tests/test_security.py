"""Hardening: untrusted URLs, untrusted media, abusive clients. Each test attacks."""

from __future__ import annotations

import ipaddress
import socket
import threading
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import jwt as pyjwt
import pytest

from mediacache import create_app
from mediacache.sources import ytdlp_downloader
from mediacache.sources.addresspolicy import AddressPolicy
from mediacache.sources.ytdlp_options import base_options
from tests.conftest import http_handlers
from tests.helpers import ADMIN_PASSWORD, auth_header, login, make_settings, wait_for_entry
from tests.media_server import MediaServer


class ConnectionRecorder:
    """Listens on 127.0.0.1 and [::1] and counts every connection it accepts."""

    def __init__(self) -> None:
        self.count = 0
        self.sockets = []
        self.port = None
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, self.port or 0))
            except OSError:
                sock.close()
                continue
            self.port = self.port or sock.getsockname()[1]
            sock.listen(16)
            sock.settimeout(0.2)
            self.sockets.append(sock)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            for sock in self.sockets:
                try:
                    connection, _ = sock.accept()
                except OSError:
                    continue
                self.count += 1
                connection.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def recorder():
    """A loopback listener that records connections (it must see none)."""
    listener = ConnectionRecorder()
    yield listener
    listener.close()


@pytest.fixture
def guarded(configured):
    """An app with the SSRF guard on (the default): (app, client, admin headers)."""
    return configured(ALLOW_PRIVATE_URLS=False)


PRIVATE_FORMS = [
    "http://127.0.0.1:{port}/a.mp3",
    "http://127.1:{port}/a.mp3",
    "http://2130706433:{port}/a.mp3",
    "http://0x7f000001:{port}/a.mp3",
    "http://0177.0.0.1:{port}/a.mp3",
    "http://[::1]:{port}/a.mp3",
    "http://[::ffff:127.0.0.1]:{port}/a.mp3",
    "http://[64:ff9b::7f00:1]:{port}/a.mp3",
    "http://[64:ff9b::a00:1]:{port}/a.mp3",
    # IPv6 forms that carry an IPv4 address: the IPv4 host inside is what gets judged.
    "http://[::127.0.0.1]:{port}/a.mp3",  # IPv4-compatible (::/96)
    "http://[::10.0.0.1]/a.mp3",
    "http://[::ffff:0:a00:1]/a.mp3",  # IPv4-translated (::ffff:0:0:0/96)
    "http://[2002:a00:1::]/a.mp3",  # 6to4 (2002::/16)
    "http://[2002:7f00:1::]:{port}/a.mp3",
    "http://[64:ff9b:1::a00:1]/a.mp3",  # local-use NAT64 (64:ff9b:1::/48)
    "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/a.mp3",  # Teredo, client 10.0.0.1
    "http://localhost:{port}/a.mp3",
    "http://media.localhost:{port}/a.mp3",
    "http://LOCALHOST.:{port}/a.mp3",
    "http://0.0.0.0:{port}/a.mp3",
    "http://10.1.2.3/a.mp3",
    "http://192.168.1.1/a.mp3",
    "http://172.16.0.1/a.mp3",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/a.mp3",
    "http://[fc00::1]/a.mp3",
    "http://224.0.0.1/a.mp3",
    "http://240.0.0.1/a.mp3",
    "http://100.64.0.1/a.mp3",
    "http://no-such-host.invalid/a.mp3",
]


@pytest.mark.parametrize("form", PRIVATE_FORMS)
def test_private_targets_are_refused_before_any_connection(guarded, recorder, form):
    app, client, headers = guarded
    url = form.format(port=recorder.port)
    queued = client.post("/api/media/queue", json={"url": url}, headers=headers)
    assert queued.status_code == 403 and queued.json["error"]["code"] == "URL_NOT_ALLOWED", queued.json
    looked_up = client.get("/api/ytdlp", query_string={"url": url}, headers=headers)
    assert looked_up.status_code == 403 and looked_up.json["error"]["code"] == "URL_NOT_ALLOWED"
    assert recorder.count == 0
    assert client.get("/api/media", headers=headers).json["pagination"]["total"] == 0
    assert not [p for p in Path(app.config["STATIC_CACHE"]).iterdir() if p.name != ".tmp"]


def test_a_name_that_resolves_to_a_local_address_is_refused(guarded):
    _, client, headers = guarded
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        pytest.skip("this machine's own name does not resolve")
    if ipaddress.ip_address(address).is_global:
        pytest.skip(f"this machine's name resolves to a public address ({address})")
    response = client.post("/api/media/queue", json={"url": f"http://{name}/a.mp3"}, headers=headers)
    assert response.status_code == 403 and response.json["error"]["code"] == "URL_NOT_ALLOWED"


EMBEDDED_10_0_0_1 = [
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::10.0.0.1",  # IPv4-compatible
    "::ffff:0:a00:1",  # IPv4-translated
    "2002:a00:1::",  # 6to4
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "64:ff9b::a00:1",  # NAT64
    "64:ff9b:1::a00:1",  # local-use NAT64
]


def test_ipv6_own_unspecified_and_loopback_addresses_stay_refused_and_are_not_ipv4_ones():
    assert not AddressPolicy(allowed_networks=(ipaddress.ip_network("0.0.0.0/31"),)).address_allowed(
        ipaddress.ip_address("::1")
    )
    assert not AddressPolicy().address_allowed(ipaddress.ip_address("::2"))  # carries 0.0.0.2


@pytest.mark.parametrize("address", EMBEDDED_10_0_0_1)
def test_an_ipv6_form_of_a_private_ipv4_address_is_judged_as_that_address(address):
    address = ipaddress.ip_address(address)
    assert not AddressPolicy().address_allowed(address)
    assert AddressPolicy(allowed_networks=(ipaddress.ip_network("10.0.0.0/8"),)).address_allowed(address)
    assert not AddressPolicy(allowed_networks=(ipaddress.ip_network("10.0.0.2/32"),)).address_allowed(address)


@pytest.mark.parametrize("address", ["::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_a_translation_of_a_public_ipv4_address_is_allowed(address):
    assert AddressPolicy().address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["::8.8.8.8", "::ffff:0:808:808", "2002:808:808::", "64:ff9b:1::808:808"])
def test_other_ipv6_forms_of_a_public_ipv4_address_are_judged_as_ipv6_addresses(address):
    # A public IPv4 address inside lifts nothing: the IPv6 address's own standing decides, as it always did.
    address = ipaddress.ip_address(address)
    assert AddressPolicy().address_allowed(address) is address.is_global


@pytest.fixture
def trusted_origin(media_folder):
    """An origin on 127.0.0.2, which the tests below allow as if it were a public site."""
    server = MediaServer(media_folder, host="127.0.0.2").start()
    yield server
    server.stop()


@pytest.fixture
def guarded_with_trusted_origin(configured, handler):
    """SSRF guard on, with only 127.0.0.2 exempt (as a self-hoster would allow one LAN host)."""
    return configured(ALLOW_PRIVATE_URLS=False, ALLOWED_NETWORKS="127.0.0.2/32")


def test_requests_is_among_the_handlers_tested():
    # yt-dlp[default] installs requests, which yt-dlp prefers to urllib: it must be guarded too.
    assert {"Urllib", "Requests"} <= set(http_handlers())


def test_only_the_chosen_handler_fetches(guarded_with_trusted_origin, handler):
    from mediacache.sources.ytdlp_downloader import new_ydl
    from mediacache.sources.ytdlp_options import base_options

    debug: list[str] = []
    logger = SimpleNamespace(debug=debug.append, info=debug.append, warning=debug.append, error=debug.append)
    with new_ydl({**base_options({}), "verbose": True, "logger": logger}) as ydl:
        ydl.print_debug_header()  # what `yt-dlp --verbose` prints, the request handlers in use among it
    (in_use,) = [line.partition("Request Handlers: ")[2] for line in debug if "Request Handlers: " in line]
    assert [name for name in in_use.split(", ") if name != "websockets"] == [handler.lower()]


@pytest.mark.e2e
def test_the_allowed_network_itself_works(guarded_with_trusted_origin, trusted_origin):
    _, client, headers = guarded_with_trusted_origin
    response = client.post("/api/media/queue", json={"url": trusted_origin.url("/media/tone.mp3")}, headers=headers)
    assert wait_for_entry(client, response.json["id"], headers)["status"] == "completed"


@pytest.mark.parametrize("loopback", ["127.0.0.1", "[::127.0.0.1]", "[2002:7f00:1::]"])
def test_a_redirect_to_loopback_fetches_nothing_from_it(
    guarded_with_trusted_origin, trusted_origin, recorder, loopback
):
    app, client, headers = guarded_with_trusted_origin
    target = f"http://{loopback}:{recorder.port}/secret.mp3"
    url = trusted_origin.url(f"/redirect-to?url={target}")
    response = client.post("/api/media/queue", json={"url": url}, headers=headers)
    assert response.status_code == 201  # the origin itself is allowed; the redirect is caught at connect time
    failed = wait_for_entry(client, response.json["id"], headers)
    assert failed["status"] == "failed" and failed["error"]["code"] == "URL_NOT_ALLOWED"
    lookup = client.get("/api/ytdlp", query_string={"url": url}, headers=headers)
    assert lookup.status_code == 403 and lookup.json["error"]["code"] == "URL_NOT_ALLOWED"
    assert recorder.count == 0
    assert not (Path(app.config["STATIC_CACHE"]) / failed["id"]).exists()


def test_manifest_segments_on_loopback_are_not_fetched(guarded_with_trusted_origin, trusted_origin, recorder):
    _, client, headers = guarded_with_trusted_origin
    url = trusted_origin.url(f"/hls.m3u8?segment=http://127.0.0.1:{recorder.port}/segment.ts")
    response = client.post("/api/media/queue", json={"url": url}, headers=headers)
    failed = wait_for_entry(client, response.json["id"], headers)
    assert failed["status"] == "failed" and failed["error"]["code"] == "URL_NOT_ALLOWED"
    assert recorder.count == 0


@pytest.mark.parametrize("loopback", ["127.0.0.1", "::127.0.0.1", "::ffff:0:7f00:1", "64:ff9b:1::7f00:1"])
def test_a_name_whose_address_changes_after_the_check_fetches_nothing(
    guarded_with_trusted_origin, recorder, monkeypatch, loopback
):
    # DNS rebinding: the name resolves to the allowed 127.0.0.2 when the queue call checks it,
    # and to loopback (plain, or carried in an IPv6 form) when the job's handler connects.
    # Each handler must check what it connects to.
    import threading

    real_getaddrinfo = socket.getaddrinfo
    seen_by_job = []

    def rebinding(host, *args, **kwargs):
        if host == "rebind.example.org":
            in_job = threading.current_thread().name.startswith("mediacache-job")
            seen_by_job.append(in_job)
            host = loopback if in_job else "127.0.0.2"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    _, client, headers = guarded_with_trusted_origin
    response = client.post(
        "/api/media/queue", json={"url": f"http://rebind.example.org:{recorder.port}/a.mp3"}, headers=headers
    )
    assert response.status_code == 201, response.json  # the name passed the check at queue time
    failed = wait_for_entry(client, response.json["id"], headers)
    assert failed["status"] == "failed" and failed["error"]["code"] == "URL_NOT_ALLOWED", failed
    assert True in seen_by_job  # the job looked the name up again, and was given loopback
    assert recorder.count == 0


def test_redirect_to_a_local_file_is_never_followed(client, admin, media_server):
    assert base_options({})["enable_file_urls"] is False
    url = media_server.url("/redirect-to?url=file:///etc/passwd")
    body = wait_for_entry(client, client.post("/api/media/queue", json={"url": url}, headers=admin).json["id"], admin)
    assert body["status"] == "failed"
    lookup = client.get("/api/ytdlp", query_string={"url": url, "raw": "true"}, headers=admin)
    assert b"root:" not in lookup.data


def test_blocked_and_allowed_domains(configured, media_server):
    _app, client, headers = configured(BLOCKED_DOMAINS="example.org", ALLOWED_DOMAINS="127.0.0.1,example.org")
    blocked = client.post("/api/media/queue", json={"url": "https://cdn.example.org/a.mp3"}, headers=headers)
    assert blocked.status_code == 403 and "blocked" in blocked.json["error"]["message"]
    elsewhere = client.post("/api/media/queue", json={"url": "http://localhost/a.mp3"}, headers=headers)
    assert elsewhere.status_code == 403 and "allowed sites" in elsewhere.json["error"]["message"]
    ok = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=headers)
    assert wait_for_entry(client, ok.json["id"], headers)["status"] == "completed"


def test_blocked_extractor_is_not_used(configured, media_server):
    _app, client, headers = configured(BLOCKED_EXTRACTORS="generic")
    response = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=headers)
    failed = wait_for_entry(client, response.json["id"], headers)
    assert failed["status"] == "failed" and failed["error"]["code"] == "UNSUPPORTED_URL"
    assert media_server.requests == []


# --- untrusted media ------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("path", ["/as/audio_mpeg/payload.php", "/as/application_x-msdownload/evil.exe"])
def test_no_file_with_an_unsafe_extension_is_written(app, client, admin, media_server, path):
    response = client.post("/api/media/queue", json={"url": media_server.url(path)}, headers=admin)
    failed = wait_for_entry(client, response.json["id"], admin)
    assert failed["status"] == "failed" and failed["error"]["code"] == "UNSUPPORTED_URL"
    written = [p.name for p in Path(app.config["STATIC_CACHE"]).rglob("*") if p.is_file()]
    assert written == []


def test_max_duration_is_checked_before_downloading(configured, media_server):
    _app, client, headers = configured(MAX_DURATION=10)
    response = client.post("/api/media/queue", json={"url": media_server.url("/jsonld.html")}, headers=headers)
    failed = wait_for_entry(client, response.json["id"], headers)
    assert failed["status"] == "failed" and failed["error"]["code"] == "TOO_LONG"
    before_download = media_server.downloads("/media/long.mp3")  # at most yt-dlp's sniff during extraction
    # A direct link carries no duration: it is downloaded, then refused from the file's own length.
    direct = client.post("/api/media/queue", json={"url": media_server.url("/media/long.mp3")}, headers=headers)
    assert wait_for_entry(client, direct.json["id"], headers)["error"]["code"] == "TOO_LONG"
    assert before_download < media_server.downloads("/media/long.mp3") - before_download


@pytest.mark.e2e
def test_max_filesize_counts_bytes_even_without_content_length(configured, media_server):
    app, client, headers = configured(MAX_FILESIZE=100_000)
    for path in ("/nolength/long.mp3", "/media/long.mp3"):
        response = client.post("/api/media/queue", json={"url": media_server.url(path)}, headers=headers)
        failed = wait_for_entry(client, response.json["id"], headers)
        assert failed["status"] == "failed" and failed["error"]["code"] == "TOO_LARGE", (path, failed["error"])
        assert not list((Path(app.config["STATIC_CACHE"]) / ".tmp").glob(f"{failed['id']}*"))
    small = client.post("/api/media/queue", json={"url": media_server.url("/nolength/tone.mp3")}, headers=headers)
    assert wait_for_entry(client, small.json["id"], headers)["status"] == "completed"


# --- file serving -------------------------------------------------------------------------


def test_a_symlink_planted_in_the_cache_is_never_followed(app, client, admin, media_server):
    body = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=admin).json
    done = wait_for_entry(client, body["id"], admin)
    served = Path(app.config["STATIC_CACHE"]) / body["id"] / Path(done["path"]).name
    served.unlink()
    served.symlink_to(Path(app.config["INSTANCE_DIR"]) / "secret_key")
    response = client.get(done["path"])
    assert response.status_code == 404 and app.config["SECRET_KEY"].encode() not in response.data
    entry_dir = served.parent
    served.unlink()
    entry_dir.rmdir()
    entry_dir.symlink_to(Path(app.config["INSTANCE_DIR"]))
    assert client.get(f"/cache/{body['id']}/mediacache.db").status_code == 404
    # A linked entry folder is refused too, even when the folder it points at holds the expected name.
    elsewhere = Path(app.config["INSTANCE_DIR"]) / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / served.name).write_bytes(b"not from the cache")
    entry_dir.unlink()
    entry_dir.symlink_to(elsewhere)
    response = client.get(done["path"])
    assert response.status_code == 404 and b"not from the cache" not in response.data


# --- abusive clients --------------------------------------------------------------------------


def test_queue_calls_are_rate_limited_per_user(configured, media_server):
    _app, client, admin = configured(QUEUE_RATE_LIMIT="3 per minute")
    client.post("/api/users", json={"username": "other", "password": "other-pass"}, headers=admin)
    other = auth_header(login(client, "other", "other-pass")["token"])
    for _ in range(3):
        assert client.post("/api/media/queue", json={"url": "ftp://x"}, headers=admin).status_code == 400
    limited = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=admin)
    assert limited.status_code == 429 and limited.json["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) > 0
    assert client.post("/api/media/queue", json={"url": "ftp://x"}, headers=other).status_code == 400


def test_lookups_are_rate_limited_per_user(tmp_path):
    client = create_app(make_settings(tmp_path, LOOKUP_RATE_LIMIT="2 per minute")).test_client()
    admin = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
    for _ in range(2):
        client.get("/api/ytdlp?url=ftp://x", headers=admin)
    limited = client.get("/api/ytdlp?url=ftp://x", headers=admin)
    assert limited.status_code == 429 and "Retry-After" in limited.headers


def test_registration_is_rate_limited_per_address(tmp_path):
    client = create_app(make_settings(tmp_path, REGISTRATION="open", REGISTER_RATE_LIMIT="2 per hour")).test_client()
    for index in range(2):
        client.post("/api/register", json={"username": f"user{index}", "password": "long-password"})
    limited = client.post("/api/register", json={"username": "user9", "password": "long-password"})
    assert limited.status_code == 429 and limited.json["error"]["code"] == "RATE_LIMITED"


def _failed_login(client, forwarded_for: str):
    return client.post(
        "/api/login", json={"username": "admin", "password": "bad-guess"}, headers={"X-Forwarded-For": forwarded_for}
    )


def test_without_trusted_proxies_a_forged_x_forwarded_for_escapes_no_limit(client):
    for attempt in range(10):
        assert _failed_login(client, f"203.0.113.{attempt}").status_code == 401
    limited = _failed_login(client, "198.51.100.7")
    assert limited.status_code == 429 and limited.json["error"]["code"] == "RATE_LIMITED"


def test_behind_a_trusted_proxy_failed_logins_count_per_real_client(configured):
    """One attacker behind nginx no longer locks out the admin, who reaches the service through the same nginx."""
    _app, client, admin = configured(TRUSTED_PROXIES=1)
    for _ in range(10):
        assert _failed_login(client, "203.0.113.5").status_code == 401
    assert _failed_login(client, "203.0.113.5").status_code == 429
    # Only the entry our proxy appended is believed: addresses the attacker writes before it change nothing.
    assert _failed_login(client, "198.51.100.7, 203.0.113.5").status_code == 429
    admin_login = client.post(
        "/api/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert admin_login.status_code == 200
    failures = client.get("/api/admin/activity", headers=admin).json["items"]
    assert {item["address"] for item in failures if item["action"] == "login_failed"} == {"203.0.113.5"}


def test_pending_jobs_per_user_are_capped(configured, media_server):
    media_server.trickle_delay = 0.2
    _app, client, headers = configured(MAX_PENDING_PER_USER=1)
    first = client.post("/api/media/queue", json={"url": media_server.url("/trickle/long.mp3")}, headers=headers)
    assert first.status_code == 201
    second = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=headers)
    assert second.status_code == 429 and second.json["error"]["code"] == "TOO_MANY_PENDING"
    assert "limit is 1" in second.json["error"]["message"] and second.headers["Retry-After"]
    client.delete(f"/api/media/{first.json['id']}?force=true", headers=headers)


# --- tokens and headers --------------------------------------------------------------------------


def test_tokens_signed_with_another_algorithm_are_refused(app, client, admin_token):
    claims = pyjwt.decode(admin_token, options={"verify_signature": False})
    other = pyjwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS512")
    assert client.get("/api/users/me", headers=auth_header(other)).status_code == 401


def test_security_headers_on_json_errors_and_files(client, admin, media_server):
    body = client.post("/api/media/queue", json={"url": media_server.url("/media/tone.mp3")}, headers=admin).json
    done = wait_for_entry(client, body["id"], admin)
    for response in (client.get("/api/ping"), client.get("/nope"), client.get(done["path"])):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.fixture
def unguarded_requests(monkeypatch):
    """urllib3 connecting around the guard, as if a release moved its connect point."""
    import urllib3.util.connection

    def around(address, timeout=None, source_address=None, socket_options=None):
        return socket.create_connection(address, timeout, source_address)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", around)
    ytdlp_downloader.guard_self_check.cache_clear()
    yield
    ytdlp_downloader.guard_self_check.cache_clear()


def test_a_handler_around_the_guard_makes_the_service_refuse_to_fetch(configured, recorder, unguarded_requests):
    _, client, headers = configured(ALLOW_PRIVATE_URLS=False, ALLOWED_NETWORKS="127.0.0.0/8")
    health = client.get("/api/health")
    assert health.status_code == 503 and health.json["checks"]["network_guard"]["status"] == "unhealthy"
    assert "Requests" in health.json["checks"]["network_guard"]["error"]
    url = f"http://127.0.0.1:{recorder.port}/a.mp3"
    queued = client.post("/api/media/queue", json={"url": url}, headers=headers)
    failed = wait_for_entry(client, queued.json["id"], headers)
    assert failed["status"] == "failed" and failed["error"]["code"] == "NETWORK_GUARD_FAILED", failed
    looked_up = client.get("/api/ytdlp", query_string={"url": url}, headers=headers)
    assert looked_up.status_code == 503 and looked_up.json["error"]["code"] == "NETWORK_GUARD_FAILED"
    assert recorder.count == 0


UNUSABLE_LOCATIONS = [
    ("gopher://127.0.0.1/", "URL_NOT_ALLOWED"),
    ("file:///etc/passwd", "URL_NOT_ALLOWED"),
    ("data:text/html,x", "URL_NOT_ALLOWED"),
    ("http://[::1", "UPSTREAM_ERROR"),
    ("http://%00/", "UPSTREAM_ERROR"),
    ("http://%5B::1%5D:18080/", "UPSTREAM_ERROR"),
]


@pytest.mark.parametrize(("location", "code"), UNUSABLE_LOCATIONS)
def test_a_redirect_to_an_unusable_location_is_a_mapped_failure(client, admin, media_server, location, code):
    url = media_server.url("/redirect-to?" + urlencode({"url": location}))
    lookup = client.get("/api/ytdlp", query_string={"url": url}, headers=admin)
    assert lookup.status_code != 500 and lookup.json["error"]["code"] == code
    assert "Traceback" not in lookup.get_data(as_text=True)
    body = wait_for_entry(client, client.post("/api/media/queue", json={"url": url}, headers=admin).json["id"], admin)
    assert body["status"] == "failed" and body["error"]["code"] == code
    assert "Traceback" not in body["error"]["message"] and "unexpectedly" not in body["error"]["message"]
