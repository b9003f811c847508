"""Accounts and tokens as API.md "Authentication" describes them."""

from __future__ import annotations

import base64
import json
import struct
import time

import jwt as pyjwt
import pytest

from mediacache import create_app
from tests.helpers import ADMIN_PASSWORD, auth_header, eventually, finished_entry, login, make_settings


def claims_of(token: str) -> dict:
    """The payload of a JWT, read without checking it (as a client does)."""
    return pyjwt.decode(token, options={"verify_signature": False})


def test_login_returns_tokens_and_user(client):
    body = login(client, "admin", ADMIN_PASSWORD)
    assert body["status"] == "success" and body["message"] == "Login successful!"
    assert body["token"] == body["access_token"]
    assert body["token_type"] == "bearer" and body["expires_in"] == 8 * 3600  # a round's length, as the original
    assert body["refresh_token"]
    assert body["user"] == {"id": 1, "username": "admin", "email": None, "role": "admin"}


def test_token_payload_has_the_claims_clients_read(client):
    claims = claims_of(login(client, "admin", ADMIN_PASSWORD)["token"])
    assert {"exp", "iat", "sub", "username", "role"} <= claims.keys()
    assert claims["username"] == "admin" and claims["role"] == "admin"
    assert claims["exp"] - claims["iat"] == 8 * 3600
    assert pyjwt.get_unverified_header(login(client, "admin", ADMIN_PASSWORD)["token"])["alg"] == "HS256"


def test_login_alias_route_works(client):
    response = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_401(client):
    wrong = client.post("/api/login", json={"username": "admin", "password": "nope-nope"})
    unknown = client.post("/api/login", json={"username": "ghost", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json["error"] == unknown.json["error"]
    assert wrong.json["error"]["code"] == "INVALID_CREDENTIALS"


def test_unknown_user_and_wrong_password_each_cost_exactly_one_hash(client, monkeypatch):
    """Login timing must not tell which usernames exist: count hash computations, not milliseconds."""
    from mediacache.accounts import users as accounts

    counts = {"check": 0, "generate": 0}

    def counting(name, real):
        def count(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)

        return count

    monkeypatch.setattr(accounts, "check_password_hash", counting("check", accounts.check_password_hash))
    monkeypatch.setattr(accounts, "generate_password_hash", counting("generate", accounts.generate_password_hash))
    for username in ("ghost", "admin", "ghost", "another-ghost", "admin"):
        counts.update(check=0, generate=0)
        response = client.post("/api/login", json={"username": username, "password": "nope-nope"})
        assert response.status_code == 401
        assert counts == {"check": 1, "generate": 0}, username


def test_login_without_password_is_a_400_not_a_500(client):
    response = client.post("/api/login", json={"username": "admin"})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert "password" in response.json["error"]["message"]


def test_repeated_failed_logins_are_rate_limited_with_retry_after(client):
    for _ in range(10):
        assert client.post("/api/login", json={"username": "admin", "password": "bad-guess"}).status_code == 401
    limited = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) > 0


def test_successful_logins_do_not_count_toward_the_limit(client):
    for _ in range(15):
        login(client, "admin", ADMIN_PASSWORD)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-jwt",
        "Token abc",
        "Bearer",
    ],
)
def test_malformed_authorization_gets_401(client, header):
    response = client.get("/api/users/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "UNAUTHORIZED"


def test_missing_token_gets_401(client):
    response = client.get("/api/users/me")
    assert response.status_code == 401 and response.json["error"]["code"] == "UNAUTHORIZED"


def test_expired_token_gets_token_expired(client, app, admin_token):
    claims = claims_of(admin_token) | {"exp": int(time.time()) - 10, "iat": int(time.time()) - 100}
    expired = pyjwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256")
    response = client.get("/api/users/me", headers=auth_header(expired))
    assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_EXPIRED"


def test_token_signed_with_another_key_is_refused(client, admin_token):
    forged = pyjwt.encode(claims_of(admin_token), "x" * 48, algorithm="HS256")
    response = client.get("/api/users/me", headers=auth_header(forged))
    assert response.status_code == 401 and response.json["error"]["code"] == "UNAUTHORIZED"


def test_alg_none_token_is_refused(client, admin_token):
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims_of(admin_token))}."
    response = client.get("/api/users/me", headers=auth_header(unsigned))
    assert response.status_code == 401


def test_token_in_query_string_is_not_accepted(client, admin_token):
    response = client.get(f"/api/users/me?jwt={admin_token}&access_token={admin_token}")
    assert response.status_code == 401


def test_logout_revokes_the_token_even_after_a_restart(client, settings, admin_token):
    assert client.post("/api/auth/logout", headers=auth_header(admin_token)).status_code == 204
    response = client.get("/api/users/me", headers=auth_header(admin_token))
    assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_REVOKED"
    restarted = create_app(settings).test_client()
    assert restarted.get("/api/users/me", headers=auth_header(admin_token)).status_code == 401


def test_logout_of_one_token_leaves_the_others_working(client, admin_token):
    other = login(client, "admin", ADMIN_PASSWORD)["token"]
    client.post("/api/auth/logout", headers=auth_header(admin_token))
    assert client.get("/api/users/me", headers=auth_header(other)).status_code == 200


@pytest.mark.parametrize("logged_out_with", ["token", "refresh_token", "refreshed"])
def test_logout_ends_every_token_of_that_login_and_no_other(client, settings, logged_out_with):
    session = login(client, "admin", ADMIN_PASSWORD)
    other_login = login(client, "admin", ADMIN_PASSWORD)["token"]
    long_lived = client.post("/api/token", headers=auth_header(other_login)).json["token"]
    session["refreshed"] = client.post("/api/auth/refresh", headers=auth_header(session["refresh_token"])).json["token"]
    assert client.post("/api/auth/logout", headers=auth_header(session[logged_out_with])).status_code == 204

    for app_client in (client, create_app(settings).test_client()):  # also after a restart
        for kind in ("token", "refreshed"):
            response = app_client.get("/api/users/me", headers=auth_header(session[kind]))
            assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_REVOKED"
        assert app_client.post("/api/auth/refresh", headers=auth_header(session["refresh_token"])).status_code == 401
        for survivor in (other_login, long_lived):
            assert app_client.get("/api/users/me", headers=auth_header(survivor)).status_code == 200


def test_refresh_token_gives_a_new_access_token(client):
    body = login(client, "admin", ADMIN_PASSWORD)
    response = client.post("/api/auth/refresh", headers=auth_header(body["refresh_token"]))
    assert response.status_code == 200
    assert "refresh_token" not in response.json
    assert {"status", "message", "token", "access_token", "token_type", "expires_in", "user"} <= response.json.keys()
    assert client.get("/api/users/me", headers=auth_header(response.json["token"])).status_code == 200


def test_refresh_token_is_not_an_access_token_and_vice_versa(client):
    body = login(client, "admin", ADMIN_PASSWORD)
    assert client.get("/api/users/me", headers=auth_header(body["refresh_token"])).status_code == 401
    assert client.post("/api/auth/refresh", headers=auth_header(body["token"])).status_code == 401


def test_long_lived_token_for_oneself(client, user):
    response = client.post("/api/token", json={"durationHours": 48}, headers=user)
    assert response.status_code == 200
    assert response.json["expires_in"] == 48 * 3600
    assert response.json["expires_at"].endswith("Z")
    claims = claims_of(response.json["token"])
    assert claims["username"] == "player" and claims["exp"] - claims["iat"] == 48 * 3600


@pytest.mark.parametrize("hours", ["+1", " 5", "2_0", "１", "٣", "1e1", "inf", "nan", "0x10"])
def test_a_token_duration_is_written_in_ascii_digits(client, user, hours):
    response = client.post("/api/token", json={"duration_hours": hours}, headers=user)
    assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_DURATION"


def test_a_token_duration_may_be_a_fraction_of_an_hour(client, user):
    response = client.post("/api/token", json={"duration_hours": "0.5"}, headers=user)
    assert response.status_code == 200 and response.json["expires_in"] == 1800


def test_long_lived_token_is_capped_at_30_days(client, user):
    response = client.post("/api/token", json={"duration_hours": 24 * 31}, headers=user)
    assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_DURATION"


def test_only_an_admin_may_mint_a_token_for_someone_else(client, admin, user):
    assert client.post("/api/token", json={"username": "admin"}, headers=user).status_code == 403
    response = client.post("/api/token", json={"username": "player", "duration_hours": 1}, headers=admin)
    assert response.status_code == 200
    me = client.get("/api/users/me", headers=auth_header(response.json["token"]))
    assert me.json["username"] == "player"


def test_change_password_kills_every_older_token(client, user_token):
    other = login(client, "player", "player-pass-1")["token"]
    response = client.post(
        "/api/auth/change-password",
        json={"currentPassword": "player-pass-1", "newPassword": "brand-new-pass"},
        headers=auth_header(user_token),
    )
    assert response.status_code == 200
    for old in (user_token, other):
        assert client.get("/api/users/me", headers=auth_header(old)).status_code == 401
    assert client.get("/api/users/me", headers=auth_header(response.json["token"])).status_code == 200
    assert client.post("/api/login", json={"username": "player", "password": "player-pass-1"}).status_code == 401
    login(client, "player", "brand-new-pass")


def test_change_password_with_wrong_current_password_is_refused(client, user):
    response = client.post(
        "/api/auth/change-password",
        json={"current_password": "wrong-one", "new_password": "whatever-123"},
        headers=user,
    )
    assert response.status_code == 403 and response.json["error"]["code"] == "INVALID_CREDENTIALS"


def test_users_me_and_user_info(client, user):
    me = client.get("/api/users/me", headers=user).json
    assert me["username"] == "player" and me["role"] == "user" and "password_hash" not in me
    assert client.get("/api/user_info", headers=user).json == {"status": "success", "user": "player"}


def test_registration_is_off_by_default(client):
    response = client.post("/api/register", json={"username": "newbie", "password": "newbie-pass"})
    assert response.status_code == 403 and response.json["error"]["code"] == "REGISTRATION_DISABLED"


def test_open_registration_makes_an_active_account(tmp_path):
    client = create_app(make_settings(tmp_path, REGISTRATION="open")).test_client()
    response = client.post("/api/register", data={"username": "newbie", "password": "newbie-pass"})
    assert response.status_code == 201
    login(client, "newbie", "newbie-pass")
    taken = client.post("/api/register", json={"username": "newbie", "password": "other-pass"})
    assert taken.status_code == 409 and taken.json["error"]["code"] == "USER_EXISTS"
    newline = client.post("/api/register", json={"username": "newbie\n", "password": "other-pass"})
    assert newline.status_code == 400 and "username" in newline.json["error"]["message"]


def test_approval_registration_waits_for_an_admin(tmp_path):
    client = create_app(make_settings(tmp_path, REGISTRATION="approval")).test_client()
    assert client.post("/api/register", json={"username": "newbie", "password": "newbie-pass"}).status_code == 201
    pending = client.post("/api/login", json={"username": "newbie", "password": "newbie-pass"})
    assert pending.status_code == 403 and pending.json["error"]["code"] == "ACCOUNT_PENDING"
    admin = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
    assert client.patch("/api/users/newbie", json={"active": True}, headers=admin).status_code == 200
    login(client, "newbie", "newbie-pass")


def test_disabled_account_cannot_log_in_and_its_tokens_die(client, admin, user):
    assert client.patch("/api/users/player", json={"active": "false"}, headers=admin).status_code == 200
    assert client.get("/api/users/me", headers=user).status_code == 401
    response = client.post("/api/login", json={"username": "player", "password": "player-pass-1"})
    assert response.status_code == 403 and response.json["error"]["code"] == "ACCOUNT_DISABLED"


def test_parameters_from_query_form_and_json_null_body(client, admin):
    # Query string only, with a JSON body of null as some game HTTP libraries send.
    response = client.post(
        f"/api/login?username=admin&password={ADMIN_PASSWORD}", data="null", content_type="application/json"
    )
    assert response.status_code == 200
    assert client.get("/api/users/me", data="null", content_type="application/json", headers=admin).status_code == 200
    form = client.post("/api/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert form.status_code == 200


def test_query_string_wins_over_the_body(client):
    response = client.post(f"/api/login?password={ADMIN_PASSWORD}", json={"username": "admin", "password": "wrong"})
    assert response.status_code == 200


# A poll loop presents one token many times; the checks must hold on every use, not just the first.
ENDINGS = {
    "logout": lambda client, admin, token: client.post("/api/auth/logout", headers=auth_header(token)),
    "password change": lambda client, admin, token: client.post(
        "/api/auth/change-password", json={"currentPassword": "player-pass-1", "newPassword": "another-pass-2"},
        headers=auth_header(token),
    ),
    "disable": lambda client, admin, token: client.patch("/api/users/player", json={"active": False}, headers=admin),
    "delete": lambda client, admin, token: client.delete("/api/users/player", headers=admin),
}  # fmt: skip


@pytest.fixture(params=["users/me", "poll"])
def steady_path(request, app) -> str:
    """A route a token is presented to again and again: a Flask view, and the poll answered in front of Flask."""
    return "/api/users/me" if request.param == "users/me" else f"/api/media/{finished_entry(app)}"


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_token_in_steady_use_dies_on_the_next_request_after(ending, client, admin, user_token, steady_path):
    for _ in range(3):
        assert client.get(steady_path, headers=auth_header(user_token)).status_code == 200
    assert ENDINGS[ending](client, admin, user_token).status_code in (200, 204)
    response = client.get(steady_path, headers=auth_header(user_token))
    assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_REVOKED"


def test_a_token_in_steady_use_expires_on_time(client, app, steady_path):
    from datetime import timedelta

    with app.app_context():
        from mediacache.accounts.tokens import access_token_for
        from mediacache.accounts.users import get_user

        token = access_token_for(get_user("admin"), timedelta(seconds=2))
    assert client.get(steady_path, headers=auth_header(token)).status_code == 200
    deadline = time.monotonic() + 5
    while (response := client.get(steady_path, headers=auth_header(token))).status_code == 200:
        assert time.monotonic() < deadline, "the token outlived its exp"
        time.sleep(0.1)
    assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_EXPIRED"


def test_a_remembered_refresh_token_is_still_not_an_access_token(client, steady_path):
    body = login(client, "admin", ADMIN_PASSWORD)
    assert client.post("/api/auth/refresh", headers=auth_header(body["refresh_token"])).status_code == 200
    response = client.get(steady_path, headers=auth_header(body["refresh_token"]))
    assert response.status_code == 401


def test_a_demoted_admin_loses_admin_routes_on_the_next_request(client, admin):
    client.post("/api/users", json={"username": "deputy", "password": "deputy-pass-1", "role": "admin"}, headers=admin)
    deputy = auth_header(login(client, "deputy", "deputy-pass-1")["token"])
    assert client.get("/api/users", headers=deputy).status_code == 200
    assert client.patch("/api/users/deputy", json={"role": "user"}, headers=admin).status_code == 200
    assert client.get("/api/users", headers=deputy).status_code == 403


# --- renewal just after expiry: the game client's timer (issue 17.1) ------------------------------


def float32(value: float) -> float:
    """The nearest 32-bit float: all a BYOND number holds (a Unix time, to a multiple of 128 s)."""
    return struct.unpack("f", struct.pack("f", value))[0]


def late_renewals() -> list[float]:
    """How many seconds after exp the client renews, when it does: it reads exp and renews at exp - 60, in float32."""
    exps = range(1_800_000_000, 1_800_000_000 + 256)  # two float32 steps of Unix time
    return sorted({delay for exp in exps if (delay := float32(float32(exp) - 60) - exp) > 0})


def expired_copy(app, token: str, seconds_ago: float) -> str:
    """The same token (account, password version, jti) as it stands ``seconds_ago`` seconds after its exp."""
    now = time.time()
    claims = claims_of(token) | {"exp": int(now - seconds_ago), "iat": int(now - seconds_ago) - 8 * 3600}
    return pyjwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256")


def renew(client, token: str, username: str = "player"):
    """The client's renewal call: POST /api/token {"username": …} with its current token."""
    return client.post("/api/token", json={"username": username}, headers=auth_header(token))


def test_a_late_renewal_within_the_grace_renews_the_callers_own_token(app, client, user_token):
    late = late_renewals()
    assert late and max(late) < 600  # the client does renew after exp now and then, by under a minute
    for delay in (late[0], late[-1]):
        renewed = renew(client, expired_copy(app, user_token, delay))
        assert renewed.status_code == 200, delay
        assert claims_of(renewed.json["token"])["exp"] > time.time()
        assert client.get("/api/users/me", headers=auth_header(renewed.json["token"])).json["username"] == "player"


def test_a_renewal_later_than_the_grace_gets_token_expired(configured):
    app, client, admin = configured(TOKEN_RENEW_GRACE=30)
    client.post("/api/users", json={"username": "player", "password": "player-pass-1"}, headers=admin)
    token = login(client, "player", "player-pass-1")["token"]
    within = [delay for delay in late_renewals() if delay < 29]
    beyond = [delay for delay in late_renewals() if delay > 31]
    assert within and beyond
    assert renew(client, expired_copy(app, token, within[-1])).status_code == 200
    for delay in (beyond[0], beyond[-1]):
        response = renew(client, expired_copy(app, token, delay))
        assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_EXPIRED", delay


def test_the_default_grace_is_ten_minutes(app, client, user_token):
    assert renew(client, expired_copy(app, user_token, 590)).status_code == 200
    response = renew(client, expired_copy(app, user_token, 600 + 128))
    assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_EXPIRED"


@pytest.mark.parametrize("ending", ENDINGS)
def test_an_ended_token_is_never_renewed_after_expiry(ending, app, client, admin, user_token):
    expired = expired_copy(app, user_token, 30)
    assert ENDINGS[ending](client, admin, user_token).status_code in (200, 204)
    response = renew(client, expired)
    assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_REVOKED"


def test_only_renewal_and_logout_accept_an_expired_token_and_renewal_only_for_oneself(
    app, client, admin_token, steady_path
):
    expired = auth_header(expired_copy(app, admin_token, 30))
    for response in (
        client.get(steady_path, headers=expired),
        client.get("/api/users", headers=expired),
        client.post("/api/auth/change-password", json={"current_password": ADMIN_PASSWORD, "new_password": "x" * 12},
                    headers=expired),
        renew(client, expired_copy(app, admin_token, 30), username="someone-else"),
    ):  # fmt: skip
        assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_EXPIRED", response.request.path
    assert renew(client, expired_copy(app, admin_token, 30), username="admin").status_code == 200


def test_an_expired_refresh_token_renews_nothing(app, client):
    refresh = expired_copy(app, login(client, "admin", ADMIN_PASSWORD)["refresh_token"], 30)
    assert renew(client, refresh, username="admin").status_code == 401
    assert client.post("/api/auth/refresh", headers=auth_header(refresh)).status_code == 401


# --- logging out with an expired token -------------------------------------------------


def test_logout_with_an_access_token_that_expired_on_its_own_ends_its_login(tmp_path):
    client = create_app(make_settings(tmp_path, ACCESS_TOKEN_TTL=1)).test_client()
    session = login(client, "admin", ADMIN_PASSWORD)
    eventually(lambda: client.get("/api/users/me", headers=auth_header(session["token"])).status_code == 401)
    assert client.post("/api/auth/logout", headers=auth_header(session["token"])).status_code == 204
    response = client.post("/api/auth/refresh", headers=auth_header(session["refresh_token"]))
    assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_REVOKED"


@pytest.mark.parametrize("expired_kind", ["token", "refresh_token"])
def test_logout_with_an_expired_token_ends_every_token_of_its_login(app, client, settings, expired_kind):
    session = login(client, "admin", ADMIN_PASSWORD)
    other_login = login(client, "admin", ADMIN_PASSWORD)["token"]
    refreshed = client.post("/api/auth/refresh", headers=auth_header(session["refresh_token"])).json["token"]
    expired = expired_copy(app, session[expired_kind], 3600)
    assert client.post("/api/auth/logout", headers=auth_header(expired)).status_code == 204

    for app_client in (client, create_app(settings).test_client()):  # also after a restart
        refresh = app_client.post("/api/auth/refresh", headers=auth_header(session["refresh_token"]))
        assert refresh.status_code == 401 and refresh.json["error"]["code"] == "TOKEN_REVOKED"
        for token in (session["token"], refreshed):
            assert app_client.get("/api/users/me", headers=auth_header(token)).status_code == 401
        assert app_client.get("/api/users/me", headers=auth_header(other_login)).status_code == 200


def test_logout_with_an_expired_token_still_checks_its_signature(app, client):
    session = login(client, "admin", ADMIN_PASSWORD)
    claims = claims_of(expired_copy(app, session["token"], 30))
    forged = pyjwt.encode(claims, "x" * 48, algorithm="HS256")
    response = client.post("/api/auth/logout", headers=auth_header(forged))
    assert response.status_code == 401 and response.json["error"]["code"] == "UNAUTHORIZED"
    assert client.post("/api/auth/refresh", headers=auth_header(session["refresh_token"])).status_code == 200


def test_logout_with_an_expired_token_of_a_deleted_account_is_refused(app, client, admin, user_token):
    expired = expired_copy(app, user_token, 30)
    assert client.delete("/api/users/player", headers=admin).status_code == 200
    response = client.post("/api/auth/logout", headers=auth_header(expired))
    assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_REVOKED"


def test_logout_with_an_expired_token_of_another_type_is_refused(app, client, admin_token):
    claims = claims_of(expired_copy(app, admin_token, 30)) | {"type": "id"}
    odd = pyjwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256")
    response = client.post("/api/auth/logout", headers=auth_header(odd))
    assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_EXPIRED"
