"""Admin-only user management (API.md "Users")."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from mediacache import create_app
from mediacache.db.extensions import db
from mediacache.db.models import User
from tests.helpers import auth_header, login, make_settings


def test_plain_user_gets_403_on_admin_routes(client, user):
    for method, path in [
        ("get", "/api/users"),
        ("post", "/api/users"),
        ("get", "/api/users/1"),
        ("patch", "/api/users/1"),
        ("delete", "/api/users/1"),
    ]:
        response = getattr(client, method)(path, json={}, headers=user)
        assert response.status_code == 403, path
        assert response.json["error"]["code"] == "FORBIDDEN"


def test_create_user_returns_the_user_object_without_secrets(client, admin):
    response = client.post(
        "/api/users", json={"username": "dj.bot", "password": "long-enough", "email": "dj@example.org"}, headers=admin
    )
    assert response.status_code == 201
    body = response.json
    assert set(body) == {"id", "username", "email", "role", "active", "created_at", "last_login_at",
                         "queue_per_minute", "lookups_per_minute", "max_pending"}  # fmt: skip
    assert body["role"] == "user" and body["active"] is True and body["created_at"].endswith("Z")


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"username": "ab", "password": "long-enough"}, "username"),
        ({"username": "bad name!", "password": "long-enough"}, "username"),
        ({"username": "x" * 33, "password": "long-enough"}, "username"),
        # '$' matches before a final newline: the whole name must match, not all but its last character.
        ({"username": "admin\n", "password": "long-enough"}, "username"),
        ({"username": "okname\n", "password": "long-enough"}, "username"),
        # Digits alone would read as an id in /api/users/<id or username>.
        ({"username": "003", "password": "long-enough"}, "username"),
        ({"username": "12345", "password": "long-enough"}, "username"),
        ({"username": "okname", "password": "short"}, "password"),
        ({"username": "okname", "password": "long-enough", "role": "root"}, "role"),
        ({"username": "okname", "password": "long-enough", "email": "not-an-email"}, "email"),
    ],
)
def test_create_user_validates_input(client, admin, payload, field):
    response = client.post("/api/users", json=payload, headers=admin)
    assert response.status_code == 400
    assert field in response.json["error"]["message"]


def test_duplicate_username_is_409(client, admin, user):
    response = client.post("/api/users", json={"username": "player", "password": "long-enough"}, headers=admin)
    assert response.status_code == 409 and response.json["error"]["code"] == "USER_EXISTS"


def test_list_users_filters_and_paginates(client, admin):
    for index in range(5):
        client.post("/api/users", json={"username": f"bot{index}", "password": "long-enough"}, headers=admin)
    page = client.get("/api/users?limit=2&page=2&role=user", headers=admin).json
    assert page["pagination"] == {"page": 2, "limit": 2, "total": 5, "pages": 3, "has_next": True, "has_prev": True}
    assert [item["username"] for item in page["items"]] == ["bot2", "bot3"]
    assert client.get("/api/users?q=bot4", headers=admin).json["pagination"]["total"] == 1
    assert client.get("/api/users?active=no", headers=admin).json["pagination"]["total"] == 0
    assert client.get("/api/users?limit=500", headers=admin).json["pagination"]["limit"] == 100


def test_get_user_by_id_or_name_and_404(client, admin):
    assert client.get("/api/users/1", headers=admin).json["username"] == "admin"
    assert client.get("/api/users/admin", headers=admin).json["id"] == 1
    missing = client.get("/api/users/9999", headers=admin)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "NOT_FOUND"


def test_patch_and_put_change_role_email_and_password(client, admin, user):
    response = client.patch("/api/users/player", json={"role": "admin", "email": "p@example.org"}, headers=admin)
    assert response.json["role"] == "admin" and response.json["email"] == "p@example.org"
    assert client.put("/api/users/player", json={"password": "changed-by-admin"}, headers=admin).status_code == 200
    assert client.get("/api/users/me", headers=user).status_code == 401
    login(client, "player", "changed-by-admin")


@pytest.mark.parametrize("change", [{"role": "user"}, {"active": False}])
def test_admin_cannot_demote_or_disable_themself(client, admin, change):
    response = client.patch("/api/users/1", json=change, headers=admin)
    assert response.status_code == 400 and response.json["error"]["code"] == "CANNOT_MODIFY_SELF"


def test_admin_cannot_delete_themself(client, admin):
    response = client.delete("/api/users/1", headers=admin)
    assert response.status_code == 400 and response.json["error"]["code"] == "CANNOT_MODIFY_SELF"


def test_deleting_a_user_kills_their_tokens(client, admin, user):
    assert client.delete("/api/users/player", headers=admin).json == {"status": "deleted"}
    response = client.get("/api/users/me", headers=user)
    assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_REVOKED"


def test_users_and_tokens_survive_a_restart(settings, client, admin, user_token):
    restarted = create_app(settings).test_client()
    assert restarted.get("/api/users/me", headers=auth_header(user_token)).json["username"] == "player"
    login(restarted, "player", "player-pass-1")


def test_a_deleted_accounts_token_does_not_come_back_with_the_next_account(client, admin):
    """Issue 14.1, step by step: SQLite used to give the deleted id 2 to the next account, token and all."""
    created = client.post("/api/users", json={"username": "second", "password": "second-pass-1"}, headers=admin)
    assert created.status_code == 201 and created.json["id"] == 2
    old_token = login(client, "second", "second-pass-1")["token"]
    assert client.delete("/api/users/2", headers=admin).status_code == 200
    newcomer = client.post(
        "/api/users", json={"username": "newadmin", "password": "newadmin-pass-1", "role": "admin"}, headers=admin
    )
    assert newcomer.status_code == 201
    for path in ("/api/users/me", "/api/users"):
        response = client.get(path, headers=auth_header(old_token))
        assert response.status_code == 401, path


def test_a_token_names_its_account_even_if_the_id_is_given_out_again(app, client, admin):
    """An id handed out twice (a restored backup, a hand-edited database) still opens only its own account."""
    from mediacache.db.extensions import db
    from mediacache.db.models import User

    client.post("/api/users", json={"username": "second", "password": "second-pass-1"}, headers=admin)
    old_token = login(client, "second", "second-pass-1")["token"]
    assert client.get("/api/users/me", headers=auth_header(old_token)).status_code == 200  # remembered from now on
    assert client.delete("/api/users/second", headers=admin).status_code == 200
    with app.app_context():
        db.session.add(User(id=2, username="newadmin", password_hash="x", role="admin"))
        db.session.commit()
    for path in ("/api/users/me", "/api/users"):
        response = client.get(path, headers=auth_header(old_token))
        assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_REVOKED", path


def test_enabling_a_disabled_account_does_not_bring_its_old_tokens_back(client, admin, user):
    assert client.patch("/api/users/player", json={"active": False}, headers=admin).status_code == 200
    assert client.get("/api/users/me", headers=user).json["error"]["code"] == "TOKEN_REVOKED"
    assert client.patch("/api/users/player", json={"active": True}, headers=admin).status_code == 200
    response = client.get("/api/users/me", headers=user)
    assert response.status_code == 401 and response.json["error"]["code"] == "TOKEN_REVOKED"
    assert (
        client.get("/api/users/me", headers=auth_header(login(client, "player", "player-pass-1")["token"])).status_code
        == 200
    )


def test_a_username_differing_only_in_case_is_taken(tmp_path):
    from tests.helpers import ADMIN_PASSWORD, make_settings

    client = create_app(make_settings(tmp_path, REGISTRATION="open")).test_client()
    admin = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
    for name in ("ADMIN", "Admin"):
        taken = client.post("/api/register", json={"username": name, "password": "other-pass"})
        assert taken.status_code == 409 and taken.json["error"]["code"] == "USER_EXISTS", name
    created = client.post("/api/users", json={"username": "player", "password": "player-pass"}, headers=admin)
    assert created.status_code == 201
    taken = client.post("/api/users", json={"username": "PLAYER", "password": "player-pass"}, headers=admin)
    assert taken.status_code == 409 and taken.json["error"]["code"] == "USER_EXISTS"
    # Login stays exact: the name as created, not a case-folded one.
    assert client.post("/api/login", json={"username": "Player", "password": "player-pass"}).status_code == 401


def _database(tmp_path):
    return tmp_path / "instance" / "mediacache.db"


def test_the_database_itself_refuses_a_username_differing_only_in_case(tmp_path):
    """The check in code answers 409; the unique index settles two creates racing past it."""
    import sqlite3

    from tests.helpers import make_settings

    create_app(make_settings(tmp_path))  # creates the admin account
    with sqlite3.connect(_database(tmp_path)) as raw, pytest.raises(sqlite3.IntegrityError):
        raw.execute(
            "INSERT INTO users (username, password_hash, role, active, pending, token_version, created_at, token_key)"
            " VALUES ('ADMIN', 'x', 'user', 1, 0, 0, '2026-01-01', 'k')"
        )


def test_an_older_database_gains_the_index_and_one_with_clashing_names_still_starts(tmp_path, caplog):
    import logging
    import sqlite3

    from tests.helpers import ADMIN_PASSWORD, make_settings, restarted_from

    settings = make_settings(tmp_path)
    create_app(settings)
    with sqlite3.connect(_database(tmp_path)) as raw:  # as version 10 left it, two names one in case
        raw.execute("DROP INDEX ux_users_username_folded")
        raw.execute("UPDATE schema_version SET version = 10")
        raw.execute(
            "INSERT INTO users (username, password_hash, role, active, pending, token_version, created_at, token_key)"
            " VALUES ('Admin', 'x', 'user', 1, 0, 0, '2026-01-01', 'k')"
        )
    with caplog.at_level(logging.WARNING):
        client = create_app(settings).test_client()
    assert "usernames differing only in case" in caplog.text and "admin" in caplog.text
    admin = auth_header(login(client, "admin", ADMIN_PASSWORD)["token"])
    clash = next(user for user in client.get("/api/users", headers=admin).json["items"] if user["username"] == "Admin")
    assert client.delete(f"/api/users/{clash['id']}", headers=admin).status_code in (200, 204)

    fresh = tmp_path / "fresh"
    restarted_from(make_settings(fresh), 10, "DROP INDEX ux_users_username_folded")
    with sqlite3.connect(_database(fresh)) as raw:
        indexes = {row[1] for row in raw.execute("PRAGMA index_list('users')")}
    assert "ux_users_username_folded" in indexes


# --- all-digit names and ids --------------------------------------------------------


def test_registration_refuses_a_username_of_digits_alone(tmp_path):
    client = create_app(make_settings(tmp_path, REGISTRATION="open")).test_client()
    response = client.post("/api/register", json={"username": "003", "password": "newbie-pass"})
    assert response.status_code == 400 and response.json["error"]["code"] == "VALIDATION_ERROR"
    assert "username" in response.json["error"]["message"]


def test_a_name_with_digits_and_one_other_character_is_a_username(client, admin):
    for name in ("007a", "1.2", "_42"):
        response = client.post("/api/users", json={"username": name, "password": "long-enough"}, headers=admin)
        assert response.status_code == 201, name
        assert client.get(f"/api/users/{name}", headers=admin).json["username"] == name


def _all_digit_account(app, username: str) -> int:
    """An account whose name is digits alone, as one made before names needed a non-digit."""
    with app.app_context():
        user = User(username=username, role="user", active=True, pending=False, password_hash="x")
        db.session.add(user)
        db.session.commit()
        return user.id


def test_an_all_digit_username_is_looked_up_by_name_before_id(app, client, admin, user):
    player_id = client.get("/api/users/player", headers=admin).json["id"]
    legacy_id = _all_digit_account(app, str(player_id))  # named like the player's id
    padded_id = _all_digit_account(app, f"00{player_id}")
    assert client.get(f"/api/users/{player_id}", headers=admin).json["id"] == legacy_id
    assert client.get(f"/api/users/00{player_id}", headers=admin).json["id"] == padded_id
    response = client.patch(f"/api/users/00{player_id}", json={"active": False}, headers=admin)
    assert response.status_code == 200 and response.json["id"] == padded_id
    assert client.delete(f"/api/users/00{player_id}", headers=admin).status_code == 200
    assert client.get("/api/users/player", headers=admin).json["active"] is True


@pytest.mark.parametrize("ref", ["002", "+2", "-2", "2.0", " 2", "\uff12"])
def test_only_a_canonical_decimal_is_taken_for_an_id(client, admin, user, ref):
    assert client.get("/api/users/player", headers=admin).json["id"] == 2
    assert client.get("/api/users/2", headers=admin).json["username"] == "player"
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"/api/users/{quote(ref)}", json={"active": False}, headers=admin)
        assert response.status_code == 404 and response.json["error"]["code"] == "NOT_FOUND", (method, ref)
    assert client.get("/api/users/player", headers=admin).json["active"] is True
