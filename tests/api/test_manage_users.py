"""The management API for people over HTTP: users, passwords, groups, /me, and logging in to
get a session (docs/auth/api.md). Embedded shape; test_manage_shapes.py runs a smoke subset on
every shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.api.manage_helpers import (
    Team,
    add_project,
    add_user,
    assert_problem,
    audit,
    grant,
    make_team,
    password_of,
    push,
    registry,
    token_status,
)
from tests.conftest import ADMIN


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with registry(tmp_path) as test_client:
        yield test_client


@pytest.fixture
def team(client: TestClient) -> Team:
    return make_team(client)


def login(client: TestClient, username: str, password: str) -> TestClient:
    """POST /auth/login as JSON; the client keeps the session cookie."""
    client.cookies.clear()
    response = client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return client


# --- users: create ---------------------------------------------------------------------------


def test_admin_creates_a_user_who_can_then_log_in(client: TestClient) -> None:
    body = {"username": "bob", "password": password_of("bob"), "email": "bob@example.com"}
    created = client.post("/api/v1/users", json=body, auth=ADMIN)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["username"] == "bob" and user["email"] == "bob@example.com"
    assert user["admin"] is False and user["disabled"] is False and user["source"] == "local"
    assert "password" not in created.text and "password_hash" not in user
    assert client.get("/v2/", auth=("bob", password_of("bob"))).status_code == 200
    assert token_status(client, ("bob", password_of("bob"))) == 200


def test_duplicate_user_is_a_conflict(client: TestClient) -> None:
    add_user(client, "bob")
    again = client.post(
        "/api/v1/users", json={"username": "bob", "password": "another-password"}, auth=ADMIN
    )
    assert_problem(again, 409, "already exists")


@pytest.mark.parametrize(
    "username", ["Bob", "BOB", "robot", "robot-1", "robotnik", "", "-bob", "bob smith", "b/c"]
)
def test_invalid_user_names_are_refused(client: TestClient, username: str) -> None:
    body = {"username": username, "password": "long-enough-password"}
    response = client.post("/api/v1/users", json=body, auth=ADMIN)
    assert_problem(response, 422, "user name")
    assert client.get("/api/v1/users", params={"q": "bob"}, auth=ADMIN).json()["users"] == []


def test_user_names_people_have_are_accepted(client: TestClient) -> None:
    for name in ("bob", "bob.smith", "bob_smith", "b-2", "bob@example.com", "7up"):
        add_user(client, name)


@pytest.mark.parametrize("password", ["", "short", "elevenchars"])
def test_short_password_is_refused(client: TestClient, password: str) -> None:
    body = {"username": "bob", "password": password}
    response = client.post("/api/v1/users", json=body, auth=ADMIN)
    assert_problem(response, 422, "12 characters")


def test_twelve_character_password_is_enough(client: TestClient) -> None:
    body = {"username": "bob", "password": "x" * 12}
    assert client.post("/api/v1/users", json=body, auth=ADMIN).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"username": "bob", "password": "long-enough-password", "role": "admin"},
        {"username": "bob"},
        {"password": "long-enough-password"},
        {"username": 5, "password": "long-enough-password"},
        {"username": "bob", "password": "long-enough-password", "admin": "maybe"},
        [],
        "bob",
    ],
)
def test_malformed_user_bodies_are_refused(client: TestClient, body: object) -> None:
    response = client.post("/api/v1/users", json=body, auth=ADMIN)
    assert_problem(response, 422)


def test_a_body_that_is_not_json_is_refused(client: TestClient) -> None:
    response = client.post("/api/v1/users", content=b"{not json", auth=ADMIN)
    assert_problem(response, 422)


def test_an_unknown_field_is_named_in_the_detail(client: TestClient) -> None:
    body = {"username": "bob", "password": "long-enough-password", "is_root": True}
    assert_problem(client.post("/api/v1/users", json=body, auth=ADMIN), 422, "is_root")


def test_admin_flag_makes_a_system_admin(client: TestClient) -> None:
    boss = add_user(client, "boss", admin=True)
    assert client.get("/api/v1/users", auth=boss).status_code == 200
    assert add_user(client, "other")  # the new admin is not the only one who can


@pytest.mark.parametrize("who", ["project-admin", "developer", "stranger"])
def test_only_admins_create_users(team: Team, who: str) -> None:
    body = {"username": "mallory", "password": "long-enough-password", "admin": True}
    response = team.client.post("/api/v1/users", json=body, auth=team[who])
    assert_problem(response, 403, "administrator")
    assert team.client.get("/api/v1/users/mallory", auth=ADMIN).status_code == 404


def test_anonymous_gets_401_everywhere_that_needs_a_login(client: TestClient) -> None:
    for method, path in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/me/tokens"),
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/users/admin"),
        ("PATCH", "/api/v1/users/admin"),
        ("DELETE", "/api/v1/users/admin"),
        ("PUT", "/api/v1/users/admin/password"),
        ("GET", "/api/v1/groups"),
        ("POST", "/api/v1/groups"),
        ("GET", "/api/v1/roles"),
        ("GET", "/api/v1/robots"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/audit/export"),
        ("POST", "/api/v1/auth/keys/rotate"),
    ]:
        response = client.request(method, path, json={})
        assert_problem(response, 401, "log in")


def test_unknown_endpoints_and_methods_are_problems_too(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/nothing-here", auth=ADMIN), 404)
    assert_problem(client.put("/api/v1/users", json={}, auth=ADMIN), 405)
    assert_problem(client.delete("/api/v1/projects/x/members/not-a-number", auth=ADMIN), 404)


def test_wrong_basic_credentials_on_the_api_are_401_problems(client: TestClient) -> None:
    response = client.get("/api/v1/me", auth=("admin", "wrong-password-x"))
    assert_problem(response, 401)
    response = client.get("/api/v1/me", headers={"Authorization": "Basic !!!"})
    assert_problem(response, 401)


# --- users: list, search, read ---------------------------------------------------------------


def test_listing_pages_with_last_and_limit(client: TestClient) -> None:
    names = [f"user{i:02d}" for i in range(7)]
    for name in names:
        add_user(client, name)
    everyone = ["admin", *names]
    seen: list[str] = []
    last = None
    while True:
        params = {"limit": 3, **({"last": last} if last else {})}
        page = client.get("/api/v1/users", params=params, auth=ADMIN).json()["users"]
        if not page:
            break
        assert len(page) <= 3
        seen += [u["username"] for u in page]
        last = page[-1]["username"]
    assert seen == everyone


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "many", "1.5"])
def test_bad_limits_are_refused(client: TestClient, limit: str) -> None:
    response = client.get("/api/v1/users", params={"limit": limit}, auth=ADMIN)
    assert_problem(response, 422, "limit")


def test_search_matches_name_and_email_case_insensitively(client: TestClient) -> None:
    add_user(client, "alice", email="Alice@Example.com")
    add_user(client, "bob", email="bob@corp.test")
    add_user(client, "carol")

    def search(q: str) -> list[str]:
        found = client.get("/api/v1/users", params={"q": q}, auth=ADMIN).json()["users"]
        return [u["username"] for u in found]

    assert search("ali") == ["alice"]
    assert search("EXAMPLE") == ["alice"]
    assert search("CORP") == ["bob"]
    assert search("ar") == ["carol"]
    assert search("i") == ["admin", "alice"]
    assert search("zzz") == []


def test_search_takes_wildcards_literally(client: TestClient) -> None:
    add_user(client, "bob")
    for q in ("%", "_"):
        found = client.get("/api/v1/users", params={"q": q}, auth=ADMIN).json()["users"]
        assert found == [], q


@pytest.mark.parametrize("who", ["project-admin", "guest", "stranger"])
def test_only_admins_list_users(team: Team, who: str) -> None:
    assert_problem(team.client.get("/api/v1/users", auth=team[who]), 403, "administrator")


def test_people_read_themselves_but_not_others(team: Team) -> None:
    me = team.client.get("/api/v1/users/developer", auth=team["developer"])
    assert me.status_code == 200 and me.json()["username"] == "developer"
    other = team.client.get("/api/v1/users/guest", auth=team["developer"])
    assert_problem(other, 403)
    assert_problem(team.client.get("/api/v1/users/admin", auth=team["developer"]), 403)
    # a stranger cannot tell whether a user exists either
    assert_problem(team.client.get("/api/v1/users/nobody", auth=team["developer"]), 403)


def test_unknown_user_is_404_for_admins(client: TestClient) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(method, "/api/v1/users/nobody", json={}, auth=ADMIN)
        if method == "PATCH":
            response = client.patch("/api/v1/users/nobody", json={"email": "x@y"}, auth=ADMIN)
        assert_problem(response, 404, "nobody")
    body = {"password": "long-enough-password"}
    assert_problem(client.put("/api/v1/users/nobody/password", json=body, auth=ADMIN), 404)


def test_me_shows_the_user_and_their_groups(client: TestClient) -> None:
    bob = add_user(client, "bob")
    client.post("/api/v1/groups", json={"name": "devs"}, auth=ADMIN)
    client.put("/api/v1/groups/devs/members/bob", auth=ADMIN)
    me = client.get("/api/v1/me", auth=bob).json()
    assert me["username"] == "bob" and me["kind"] == "user" and me["groups"] == ["devs"]
    assert me["admin"] is False
    assert client.get("/api/v1/me", auth=ADMIN).json()["admin"] is True


# --- users: change, disable, delete ----------------------------------------------------------


def test_patch_changes_email_and_admin(client: TestClient) -> None:
    bob = add_user(client, "bob")
    changed = client.patch("/api/v1/users/bob", json={"email": "b@x.test"}, auth=ADMIN)
    assert changed.status_code == 200 and changed.json()["email"] == "b@x.test"
    promoted = client.patch("/api/v1/users/bob", json={"admin": True}, auth=ADMIN)
    assert promoted.json()["admin"] is True
    assert client.get("/api/v1/users", auth=bob).status_code == 200
    assert client.get("/api/v1/users/bob", auth=ADMIN).json()["admin"] is True


# The authenticator remembers who a name and password proved (auth/login.py `_recent`,
# 60 s); the admin flag and groups must still take effect at once.


def test_a_demoted_admin_loses_admin_rights_at_once(client: TestClient) -> None:
    bob = add_user(client, "bob", admin=True)
    assert client.get("/api/v1/users", auth=bob).status_code == 200
    client.patch("/api/v1/users/bob", json={"admin": False}, auth=ADMIN)
    assert_problem(client.get("/api/v1/users", auth=bob), 403)


@pytest.mark.parametrize(
    "body", [{"username": "robert"}, {"password": "long-enough-password"}, {"admin": "yes"}]
)
def test_patch_refuses_what_it_does_not_change(client: TestClient, body: object) -> None:
    add_user(client, "bob")
    assert_problem(client.patch("/api/v1/users/bob", json=body, auth=ADMIN), 422)


def test_only_admins_patch_users_even_themselves(team: Team) -> None:
    response = team.client.patch(
        "/api/v1/users/developer", json={"admin": True}, auth=team["developer"]
    )
    assert_problem(response, 403)
    assert team.client.get("/api/v1/users", auth=team["developer"]).status_code == 403


def test_disabled_user_cannot_log_in_anywhere(client: TestClient) -> None:
    bob = add_user(client, "bob")
    add_project(client, "team-a")
    grant(client, "team-a", "developer", user="bob")
    assert push(client, "team-a/app", bob) == 201
    offline = client.get(
        "/token", params={"service": "dockyard", "offline_token": "true"}, auth=bob
    ).json()["refresh_token"]
    session = login(client, *bob)
    assert session.get("/api/v1/me").status_code == 200

    disabled = client.patch("/api/v1/users/bob", json={"disabled": True}, auth=ADMIN)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True

    assert session.get("/api/v1/me").status_code == 401  # the session ended
    client.cookies.clear()
    assert client.get("/v2/", auth=bob).status_code == 401
    assert token_status(client, bob) == 401
    assert push(client, "team-a/app", bob, tag="v2") == 401
    refreshed = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": offline, "service": "dockyard"},
    )
    assert refreshed.status_code == 401
    assert_problem(client.post("/auth/login", json={"username": "bob", "password": bob[1]}), 401)

    client.patch("/api/v1/users/bob", json={"disabled": False}, auth=ADMIN)
    assert client.get("/v2/", auth=bob).status_code == 200


def test_admins_cannot_lock_themselves_out(client: TestClient) -> None:
    for body in ({"disabled": True}, {"admin": False}):
        response = client.patch("/api/v1/users/admin", json=body, auth=ADMIN)
        assert_problem(response, 422, "yourself")
    assert_problem(client.delete("/api/v1/users/admin", auth=ADMIN), 422, "yourself")
    me = client.get("/api/v1/me", auth=ADMIN).json()
    assert me["admin"] is True and me["disabled"] is False
    # harmless changes to yourself are fine
    assert client.patch("/api/v1/users/admin", json={"disabled": False}, auth=ADMIN).is_success
    assert client.patch("/api/v1/users/admin", json={"admin": True}, auth=ADMIN).is_success


def test_one_admin_may_disable_another(client: TestClient) -> None:
    other = add_user(client, "root2", admin=True)
    response = client.patch("/api/v1/users/admin", json={"disabled": True}, auth=other)
    assert response.status_code == 200
    assert client.get("/api/v1/me", auth=ADMIN).status_code == 401


def test_delete_user(team: Team) -> None:
    client = team.client
    assert_problem(client.delete("/api/v1/users/guest", auth=team["project-admin"]), 403)
    assert client.delete("/api/v1/users/guest", auth=ADMIN).status_code == 204
    assert_problem(client.get("/api/v1/users/guest", auth=ADMIN), 404)
    assert client.get("/v2/", auth=team["guest"]).status_code == 401
    assert_problem(client.delete("/api/v1/users/guest", auth=ADMIN), 404)


def test_a_new_user_with_a_deleted_users_name_inherits_nothing(team: Team) -> None:
    """Grants name their subject; a new account that reuses the name is someone else."""
    client = team.client
    assert client.delete("/api/v1/users/developer", auth=ADMIN).status_code == 204
    newcomer = add_user(client, "developer")
    assert push(client, "team-a/app", newcomer) == 403
    members = client.get("/api/v1/projects/team-a/members", auth=ADMIN).json()["members"]
    assert "developer" not in {m["subject"] for m in members}


# --- passwords -------------------------------------------------------------------------------


def test_change_own_password_with_the_current_one(client: TestClient) -> None:
    bob = add_user(client, "bob")
    new = "a-brand-new-password"
    wrong = {"password": new, "current_password": "not-my-password"}
    assert_problem(client.put("/api/v1/users/bob/password", json=wrong, auth=bob), 403, "current")
    missing = {"password": new}
    assert_problem(client.put("/api/v1/users/bob/password", json=missing, auth=bob), 403)
    short = {"password": "short", "current_password": bob[1]}
    assert_problem(client.put("/api/v1/users/bob/password", json=short, auth=bob), 422)
    assert client.get("/v2/", auth=bob).status_code == 200  # nothing changed so far

    ok = {"password": new, "current_password": bob[1]}
    assert client.put("/api/v1/users/bob/password", json=ok, auth=bob).status_code == 204
    assert client.get("/v2/", auth=bob).status_code == 401
    assert token_status(client, bob) == 401
    assert client.get("/v2/", auth=("bob", new)).status_code == 200


def test_a_password_change_ends_sessions_and_refresh_tokens(client: TestClient) -> None:
    bob = add_user(client, "bob")
    refresh = client.get(
        "/token", params={"service": "dockyard", "offline_token": "true"}, auth=bob
    ).json()["refresh_token"]
    login(client, *bob)
    assert client.get("/api/v1/me").status_code == 200
    body = {"password": "a-brand-new-password", "current_password": bob[1]}
    assert client.put("/api/v1/users/bob/password", json=body).status_code == 204  # via session
    assert_problem(client.get("/api/v1/me"), 401)
    client.cookies.clear()
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "service": "dockyard"}
    assert client.post("/token", data=form).status_code == 401


def test_admin_sets_anothers_password_without_the_current_one(client: TestClient) -> None:
    bob = add_user(client, "bob")
    login(client, *bob)
    body = {"password": "set-by-the-admin"}
    client_cookies = dict(client.cookies)
    client.cookies.clear()
    assert client.put("/api/v1/users/bob/password", json=body, auth=ADMIN).status_code == 204
    client.cookies.update(client_cookies)
    assert client.get("/api/v1/me").status_code == 401  # bob's session ended
    client.cookies.clear()
    assert client.get("/v2/", auth=bob).status_code == 401
    assert client.get("/v2/", auth=("bob", "set-by-the-admin")).status_code == 200


def test_nobody_else_sets_a_password(team: Team) -> None:
    body = {"password": "taken-over-pass", "current_password": password_of("guest")}
    for who in ("project-admin", "developer", "stranger"):
        response = team.client.put("/api/v1/users/guest/password", json=body, auth=team[who])
        assert_problem(response, 403)
    assert team.client.get("/v2/", auth=team["guest"]).status_code == 200


# --- groups ----------------------------------------------------------------------------------


def test_groups_create_list_delete(client: TestClient) -> None:
    created = client.post(
        "/api/v1/groups", json={"name": "devs", "description": "developers"}, auth=ADMIN
    )
    assert created.status_code == 201 and created.json()["name"] == "devs"
    assert_problem(client.post("/api/v1/groups", json={"name": "devs"}, auth=ADMIN), 409)
    assert_problem(client.post("/api/v1/groups", json={"name": ""}, auth=ADMIN), 422)
    assert_problem(client.post("/api/v1/groups", json={"name": "x" * 256}, auth=ADMIN), 422)
    assert_problem(client.post("/api/v1/groups", json={"nom": "x"}, auth=ADMIN), 422)
    add_user(client, "bob")
    assert client.put("/api/v1/groups/devs/members/bob", auth=ADMIN).status_code == 204
    assert client.put("/api/v1/groups/devs/members/bob", auth=ADMIN).status_code == 204  # again
    listed = client.get("/api/v1/groups", auth=ADMIN).json()["groups"]
    assert listed == [{"name": "devs", "description": "developers", "members": ["bob"]}]
    assert client.delete("/api/v1/groups/devs", auth=ADMIN).status_code == 204
    assert client.get("/api/v1/groups", auth=ADMIN).json()["groups"] == []
    assert_problem(client.delete("/api/v1/groups/devs", auth=ADMIN), 404)
    assert client.get("/api/v1/me", auth=("bob", password_of("bob"))).json()["groups"] == []


def test_group_members_of_unknown_groups_or_users(client: TestClient) -> None:
    add_user(client, "bob")
    assert_problem(client.put("/api/v1/groups/nope/members/bob", auth=ADMIN), 404, "group")
    client.post("/api/v1/groups", json={"name": "devs"}, auth=ADMIN)
    assert_problem(client.put("/api/v1/groups/devs/members/nobody", auth=ADMIN), 404, "user")


@pytest.mark.parametrize("who", ["project-admin", "developer", "stranger"])
def test_only_admins_manage_groups(team: Team, who: str) -> None:
    client, creds = team.client, team[who]
    client.post("/api/v1/groups", json={"name": "devs"}, auth=ADMIN)
    assert_problem(client.get("/api/v1/groups", auth=creds), 403)
    assert_problem(client.post("/api/v1/groups", json={"name": "mine"}, auth=creds), 403)
    assert_problem(client.put(f"/api/v1/groups/devs/members/{who}", auth=creds), 403)
    assert_problem(client.delete("/api/v1/groups/devs/members/stranger", auth=creds), 403)
    assert_problem(client.delete("/api/v1/groups/devs", auth=creds), 403)


def test_a_role_granted_to_a_group_follows_its_members(client: TestClient) -> None:
    add_project(client, "team-a")
    bob = add_user(client, "bob")
    client.post("/api/v1/groups", json={"name": "devs"}, auth=ADMIN)
    grant(client, "team-a", "developer", group="devs")
    assert client.put("/api/v1/groups/devs/members/bob", auth=ADMIN).status_code == 204
    assert push(client, "team-a/app", bob) == 201
    assert client.get("/api/v1/projects/team-a", auth=bob).status_code == 200
    # a session reads the groups afresh on every request
    login(client, *bob)
    assert client.delete("/api/v1/groups/devs/members/bob", auth=ADMIN).status_code == 204
    assert_problem(client.get("/api/v1/projects/team-a"), 404)
    client.cookies.clear()


def test_removal_from_a_group_ends_its_roles_at_once(client: TestClient) -> None:
    add_project(client, "team-a")
    bob = add_user(client, "bob")
    client.post("/api/v1/groups", json={"name": "devs"}, auth=ADMIN)
    grant(client, "team-a", "developer", group="devs")
    client.put("/api/v1/groups/devs/members/bob", auth=ADMIN)
    assert push(client, "team-a/app", bob) == 201
    assert client.delete("/api/v1/groups/devs/members/bob", auth=ADMIN).status_code == 204
    assert push(client, "team-a/app", bob, tag="v2") == 403


# --- logging in ------------------------------------------------------------------------------


def test_login_with_json_sets_a_safe_session_cookie(client: TestClient) -> None:
    bob = add_user(client, "bob")
    response = client.post("/auth/login", json={"username": "bob", "password": bob[1]})
    assert response.status_code == 200 and response.json() == {"username": "bob", "admin": False}
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
    assert "dockyard_session" in attributes
    assert "httponly" in attributes
    assert attributes["samesite"].split("=")[1].strip().lower() == "lax"
    assert attributes["path"].split("=")[1].strip() == "/"
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["username"] == "bob"
    # the session is for people; it does not log anyone in to the registry
    assert client.get("/v2/").status_code == 401


def test_login_with_a_form(client: TestClient) -> None:
    add_user(client, "bob")
    response = client.post("/auth/login", data={"username": "bob", "password": password_of("bob")})
    assert response.status_code == 200
    assert client.get("/api/v1/me").json()["username"] == "bob"


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"username": "admin", "password": "wrong-password"}}, 401),
        ({"json": {"username": "nobody", "password": "whatever-pass"}}, 401),
        ({"json": {"username": "admin"}}, 422),
        ({"json": {"username": 1, "password": 2}}, 422),
        ({"content": b"{oops", "headers": {"content-type": "application/json"}}, 422),
        ({"data": {"username": "admin"}}, 422),
        ({"json": None}, 422),
        *(pytest.param({"json": body}, 422) for body in ([], "admin", 5)),
    ],
)
def test_bad_logins_are_problems(
    client: TestClient, kwargs: dict[str, object], status: int
) -> None:
    response = client.post("/auth/login", **kwargs)  # type: ignore[arg-type]
    assert_problem(response, status)
    assert "set-cookie" not in response.headers
    assert client.get("/api/v1/me").status_code == 401


def test_failed_logins_lock_the_account_with_retry_after(client: TestClient) -> None:
    add_user(client, "bob")
    statuses = []
    for _ in range(6):
        response = client.post("/auth/login", json={"username": "bob", "password": "wrong-pass"})
        statuses.append(response.status_code)
    assert statuses[:4] == [401] * 4 and statuses[5] == 429, statuses
    detail = assert_problem(response, 429, "try again")
    assert int(response.headers["retry-after"]) > 0
    assert "seconds" in detail
    # even the right password waits now, and the registry says the same
    right = client.post("/auth/login", json={"username": "bob", "password": password_of("bob")})
    assert_problem(right, 429)
    assert client.get("/v2/", auth=("bob", password_of("bob"))).status_code == 429
    failures = audit(client, actor="bob", action="login")
    assert {e["outcome"] for e in failures} == {"failed", "locked"}


def test_logout_ends_the_session(client: TestClient) -> None:
    login(client, *ADMIN)
    assert client.get("/api/v1/me").status_code == 200
    response = client.post("/auth/logout")
    assert response.status_code == 204
    assert "dockyard_session=" in response.headers["set-cookie"]
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert_problem(client.get("/api/v1/me"), 401)


def test_a_copied_session_cookie_is_dead_after_logout(client: TestClient) -> None:
    login(client, *ADMIN)
    stolen = client.cookies["dockyard_session"]
    client.post("/auth/logout")
    client.cookies.clear()
    response = client.get("/api/v1/me", cookies={"dockyard_session": stolen})
    assert response.status_code == 401


def test_a_tampered_session_cookie_is_anonymous(client: TestClient) -> None:
    login(client, *ADMIN)
    value = client.cookies["dockyard_session"]
    client.cookies.clear()
    forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert_problem(client.get("/api/v1/me", cookies={"dockyard_session": forged}), 401)


def test_login_is_audited(client: TestClient) -> None:
    bob = add_user(client, "bob")
    login(client, *bob)
    client.cookies.clear()
    client.post("/auth/login", json={"username": "bob", "password": "Tr0ub4dor-guess"})
    outcomes = [(e["actor"], e["outcome"]) for e in audit(client, action="login", target="bob")]
    assert outcomes == [("bob", "failed"), ("bob", "ok")]
    assert all(secret not in str(audit(client)) for secret in (bob[1], "Tr0ub4dor"))


# --- audit of user changes -------------------------------------------------------------------


def test_user_changes_are_audited_with_actor_and_target(client: TestClient) -> None:
    add_user(client, "bob")
    client.patch("/api/v1/users/bob", json={"email": "b@x.test"}, auth=ADMIN)
    client.put("/api/v1/users/bob/password", json={"password": "x" * 20}, auth=ADMIN)
    client.post("/api/v1/groups", json={"name": "devs"}, auth=ADMIN)
    client.put("/api/v1/groups/devs/members/bob", auth=ADMIN)
    client.delete("/api/v1/groups/devs/members/bob", auth=ADMIN)
    client.delete("/api/v1/groups/devs", auth=ADMIN)
    client.delete("/api/v1/users/bob", auth=ADMIN)
    entries = audit(client, actor="admin")
    seen = [(e["action"], e["target"]) for e in reversed(entries) if e["action"] != "login"]
    assert seen == [
        ("user.create", "bob"),
        ("user.update", "bob"),
        ("user.password", "bob"),
        ("group.create", "devs"),
        ("group.member.add", "devs"),
        ("group.member.remove", "devs"),
        ("group.delete", "devs"),
        ("user.delete", "bob"),
    ]
    assert all(e["actor_kind"] == "user" and e["outcome"] == "ok" for e in entries)
    assert all("x" * 20 not in str(e) for e in entries)


def test_guessing_the_current_password_through_a_session_locks_the_account(
    client: TestClient,
) -> None:
    bob = add_user(client, "bob")
    login(client, *bob)
    wrong = {"password": "a-brand-new-password", "current_password": "not-my-password"}
    statuses = [client.put("/api/v1/users/bob/password", json=wrong).status_code for _ in range(6)]
    assert statuses[:5] == [403] * 5
    assert statuses[5] == 429
    # The lockout is the login's: the right password is refused too, for now.
    client.cookies.clear()
    assert token_status(client, bob) == 429


def test_robots_cannot_open_a_dashboard_session(client: TestClient) -> None:
    add_project(client, "team")
    robot = client.post(
        "/api/v1/projects/team/robots",
        json={"name": "ci", "permissions": [{"repositories": "team/*", "actions": ["pull"]}]},
        auth=ADMIN,
    ).json()
    response = client.post(
        "/auth/login", json={"username": robot["name"], "password": robot["secret"]}
    )
    assert_problem(response, 403, "robot")
    assert "dockyard_session" not in client.cookies


@pytest.mark.parametrize("name", ["a/b", "", " lead", "x" * 256, "tab\there"])
def test_group_names_that_could_never_be_addressed_are_refused(
    client: TestClient, name: str
) -> None:
    assert_problem(client.post("/api/v1/groups", json={"name": name}, auth=ADMIN), 422)


def test_last_login_and_token_use_are_recorded(client: TestClient) -> None:
    bob = add_user(client, "bob")
    assert client.get("/api/v1/users/bob", auth=ADMIN).json()["last_login_at"] is None
    created = client.post("/api/v1/me/tokens", json={"name": "ci"}, auth=bob).json()
    assert token_status(client, ("bob", created["token"])) == 200
    tokens = client.get("/api/v1/me/tokens", auth=bob).json()["tokens"]
    assert [t["last_used_at"] is not None for t in tokens] == [True]
    assert client.get("/api/v1/users/bob", auth=ADMIN).json()["last_login_at"] is not None


def test_a_personal_access_token_alone_is_a_bearer_credential(client: TestClient) -> None:
    bob = add_user(client, "bob")
    created = client.post("/api/v1/me/tokens", json={"name": "script"}, auth=bob).json()
    bearer = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/api/v1/me", headers=bearer).json()["username"] == "bob"
    # It acts as bob, no more: bob is no admin.
    assert_problem(client.get("/api/v1/users", headers=bearer), 403)
    assert client.delete(f"/api/v1/me/tokens/{created['id']}", headers=bearer).status_code == 204
    assert_problem(client.get("/api/v1/me", headers=bearer), 401, "personal access token")
    garbage = {"Authorization": "Bearer dyp_0123456789abcdef_nope"}
    assert_problem(client.get("/api/v1/me", headers=garbage), 401)
    assert_problem(client.get("/api/v1/me", headers={"Authorization": "Bearer x"}), 401)
