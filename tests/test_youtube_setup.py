"""YouTube set-up (issue 16): PO-token provider and proxy through the guard, pass-through options, canaries, CLI."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mediacache.sources import netguard
from mediacache.sources.addresspolicy import AddressPolicy
from mediacache.sources.ytdlp_downloader import new_ydl
from mediacache.sources.ytdlp_options import base_options
from tests.helpers import YtdlpDebugLog

GUARD_SETTINGS = {"ALLOW_PRIVATE_URLS": False, "ALLOWED_NETWORKS": [], "ALLOWED_DOMAINS": [], "BLOCKED_DOMAINS": []}


class CountingServer:
    """A loopback HTTP server that answers "ok" to anything and records each request's target."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True, name="counting-server").start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers():
    started = [CountingServer(), CountingServer()]
    yield started
    for server in started:
        server.stop()


def test_the_guard_lets_exactly_the_pot_provider_through_and_nothing_else_private(handler, servers):
    provider, other = servers
    config = GUARD_SETTINGS | {"YTDLP_POT_PROVIDER_URL": provider.url}
    with netguard.enforced(AddressPolicy.from_config(config)) as policy, new_ydl(base_options(config)) as ydl:
        assert ydl.urlopen(f"{provider.url}/ping").read() == b"ok"
        for refused in (f"{other.url}/ping", f"http://localhost:{provider.port}/ping"):
            with pytest.raises(Exception):  # noqa: B017 — each handler words its failure its own way
                ydl.urlopen(refused)
    assert provider.paths == ["/ping"] and other.paths == []
    assert len(policy.refused) == 2


def test_the_configured_proxy_is_reached_although_it_is_private(servers):
    proxy, _ = servers
    config = GUARD_SETTINGS | {"YTDLP_PROXY": proxy.url}
    options = base_options(config)
    assert options["proxy"] == proxy.url
    with netguard.enforced(AddressPolicy.from_config(config)), new_ydl(options) as ydl:
        assert ydl.urlopen("http://media.example.org/song.mp3").read() == b"ok"
    assert proxy.paths == ["http://media.example.org/song.mp3"]  # what the proxy was asked to fetch


def test_extractor_args_pass_through_and_the_provider_url_reaches_the_bgutil_plugin():
    from mediacache.config.parsers import parse_extractor_args

    parsed = parse_extractor_args("youtube:player_client=tv,web_safari;formats=missing_pot youtubetab:skip=webpage")
    assert parsed == {"youtube": {"player_client": ["tv", "web_safari"], "formats": ["missing_pot"]},
                      "youtubetab": {"skip": ["webpage"]}}  # fmt: skip
    options = base_options({"YTDLP_EXTRACTOR_ARGS": parsed, "YTDLP_POT_PROVIDER_URL": "http://pot:4416"})
    assert options["extractor_args"]["youtube"]["player_client"] == ["tv", "web_safari"]
    assert options["extractor_args"]["youtubepot-bgutilhttp"] == {"base_url": ["http://pot:4416"]}
    for bad in ("player_client=tv", "youtube:player_client"):
        with pytest.raises(ValueError):
            parse_extractor_args(bad)


def test_yt_dlp_reports_the_bgutil_po_token_provider_from_requirements():
    # What yt-dlp -v prints when its YouTube extractor starts: the PO-token providers it will ask.
    log = YtdlpDebugLog()
    with new_ydl(base_options({}) | {"verbose": True, "logger": log}) as ydl:
        ydl.get_info_extractor("Youtube").initialize()
    reported = [line.partition("PO Token Providers:")[2] for line in log.lines if "PO Token Providers:" in line]
    assert reported, log.lines
    assert "bgutil:http-" in reported[0] and "(external" in reported[0], reported[0]


def test_canaries_report_each_site_in_health_and_metrics(configured, media_server):
    from mediacache.media.periodic import PERIODIC_JOBS, check_canaries

    ok, blocked = media_server.url("/fake/ok-canary"), media_server.url("/fake/nojs-canary")
    app, client, headers = configured(CANARY_URLS=ok)
    assert "check-canaries" in {job.id for job in PERIODIC_JOBS}
    with app.app_context():
        assert check_canaries() == {ok: True}
    assert not any(path.startswith("/media/") for _, path in media_server.requests)  # metadata only
    sites = client.get("/api/health").json["checks"]["extractors"]["sites"]
    assert sites["fakesite"]["up"] is True and sites["fakesite"]["canaries"][ok]["ok"] is True
    assert sites["fakesite"]["last_success"].endswith("Z")
    app.config["CANARY_URLS"] = [blocked]
    with app.app_context():
        assert check_canaries() == {blocked: False}
    check = client.get("/api/health").json["checks"]["extractors"]
    assert check["status"] == "degraded" and check["sites"]["fakesite"]["error"]["code"] == "JS_RUNTIME_MISSING"
    metrics = client.get("/metrics", headers=headers).get_data(as_text=True)
    assert 'mediacache_extractor_up{extractor="fakesite"} 0.0' in metrics


def test_update_ytdlp_names_the_venvs_pip_and_says_to_restart(app):
    import sys

    result = app.test_cli_runner().invoke(args=["update-ytdlp", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"{sys.executable} -m pip install --upgrade yt-dlp[default] yt-dlp-ejs" in result.output
    assert "days old" in result.output
