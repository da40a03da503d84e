"""The management API for projects, their members and custom roles over HTTP, checked against
what the registry then allows on /v2/ (docs/auth/api.md, docs/auth/README.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import OCI_MANIFEST
from tests.api.manage_helpers import (
    Team,
    add_project,
    add_user,
    assert_problem,
    audit,
    grant,
    make_team,
    password_of,
    pull,
    push,
    registry,
)
from tests.conftest import ADMIN


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with registry(tmp_path) as test_client:
        yield test_client


@pytest.fixture
def team(client: TestClient) -> Team:
    return make_team(client)


def members(client: TestClient, project: str = "team-a") -> list[dict[str, object]]:
    response = client.get(f"/api/v1/projects/{project}/members", auth=ADMIN)
    assert response.status_code == 200, response.text
    return list(response.json()["members"])


# --- projects: create ------------------------------------------------------------------------


def test_admin_creates_private_and_public_projects(client: TestClient) -> None:
    private = client.post("/api/v1/projects", json={"name": "team-a"}, auth=ADMIN)
    assert private.status_code == 201, private.text
    assert private.json()["name"] == "team-a" and private.json()["public"] is False
    assert private.json()["created_by"] == "admin"
    public = client.post("/api/v1/projects", json={"name": "pub", "public": True}, auth=ADMIN)
    assert public.status_code == 201 and public.json()["public"] is True
    assert push(client, "pub/app", ADMIN) == 201 and push(client, "team-a/app", ADMIN) == 201
    assert pull(client, "pub/app", None) == 200
    assert pull(client, "team-a/app", None) == 401
    assert members(client) == []  # an admin creating a project does not need a grant in it


def test_duplicate_project_is_a_conflict(client: TestClient) -> None:
    add_project(client, "team-a")
    again = client.post("/api/v1/projects", json={"name": "team-a", "public": True}, auth=ADMIN)
    assert_problem(again, 409, "already exists")
    assert client.get("/api/v1/projects/team-a", auth=ADMIN).json()["public"] is False


@pytest.mark.parametrize(
    "name", ["Team-A", "team_", "-team", "team--a", "a..b", "", "a/b", "x" * 256, "a b", "é"]
)
def test_invalid_project_names_are_refused(client: TestClient, name: str) -> None:
    response = client.post("/api/v1/projects", json={"name": name}, auth=ADMIN)
    assert_problem(response, 422, "name")


@pytest.mark.parametrize(
    "body", [{}, {"name": "x", "public": "yes"}, {"name": "x", "owner": "bob"}, {"name": 1}, []]
)
def test_malformed_project_bodies_are_refused(client: TestClient, body: object) -> None:
    assert_problem(client.post("/api/v1/projects", json=body, auth=ADMIN), 422)


@pytest.mark.parametrize("who", ["project-admin", "developer", "stranger"])
def test_only_admins_create_projects_by_default(team: Team, who: str) -> None:
    response = team.client.post("/api/v1/projects", json={"name": "mine"}, auth=team[who])
    assert_problem(response, 403, "administrator")
    assert_problem(team.client.get("/api/v1/projects/mine", auth=ADMIN), 404)


def test_anonymous_cannot_create_projects(client: TestClient) -> None:
    assert_problem(client.post("/api/v1/projects", json={"name": "mine"}), 401)


def test_users_create_projects_when_allowed_and_administer_them(tmp_path: Path) -> None:
    with registry(tmp_path, users_can_create_projects=True) as client:
        bob = add_user(client, "bob")
        created = client.post("/api/v1/projects", json={"name": "bobs"}, auth=bob)
        assert created.status_code == 201, created.text
        assert created.json()["created_by"] == "bob"
        found = client.get("/api/v1/projects/bobs/members", auth=bob)
        assert found.status_code == 200
        assert [(m["subject_kind"], m["subject"], m["role"]) for m in found.json()["members"]] == [
            ("user", "bob", "project-admin")
        ]
        assert push(client, "bobs/app", bob) == 201
        carol = add_user(client, "carol")
        assert push(client, "bobs/app", carol, tag="v2") == 403
        grant(client, "bobs", "guest", user="carol", auth=bob)
        assert pull(client, "bobs/app", carol) == 200
        # still not the system admin's business
        assert_problem(client.delete("/api/v1/projects/bobs", auth=bob), 403)
        assert_problem(client.post("/api/v1/projects", json={"name": "x"}), 401)


# --- projects: read, list --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("admin", 200),
        ("project-admin", 200),
        ("maintainer", 200),
        ("developer", 200),
        ("guest", 200),
        ("limited-guest", 200),
        ("stranger", 404),
        ("anonymous", 404),
    ],
)
def test_a_private_project_is_visible_only_to_its_members(
    team: Team, who: str, status: int
) -> None:
    response = team.client.get("/api/v1/projects/team-a", auth=team[who])
    if status == 200:
        assert response.status_code == 200 and response.json()["name"] == "team-a"
        return
    hidden = assert_problem(response, 404)
    missing = assert_problem(team.client.get("/api/v1/projects/team-z", auth=team[who]), 404)
    assert hidden.replace("team-a", "X") == missing.replace("team-z", "X")  # nothing leaks


def test_a_public_project_is_visible_to_everyone(team: Team) -> None:
    for who in ("anonymous", "stranger", "developer"):
        response = team.client.get("/api/v1/projects/pub", auth=team[who])
        assert response.status_code == 200 and response.json()["public"] is True


def test_the_list_shows_what_each_may_see(team: Team) -> None:
    add_project(team.client, "secret")
    add_project(team.client, "team-b")
    grant(team.client, "team-b", "developer", user="stranger", repositories="team-b/ci-*")

    def listed(who: str) -> list[str]:
        response = team.client.get("/api/v1/projects", auth=team[who])
        assert response.status_code == 200, response.text
        return [p["name"] for p in response.json()["projects"]]

    assert listed("admin") == ["pub", "secret", "team-a", "team-b"]
    assert listed("anonymous") == ["pub"]
    assert listed("stranger") == ["pub", "team-b"]  # a grant on part of a project shows it
    for role in ("project-admin", "developer", "limited-guest"):
        assert listed(role) == ["pub", "team-a"]


def test_project_list_pages(client: TestClient) -> None:
    names = sorted(f"p{i:02d}" for i in range(7))
    for name in names:
        add_project(client, name, public=True)
    seen: list[str] = []
    last = ""
    while True:
        params = {"limit": 3, **({"last": last} if last else {})}
        page = client.get("/api/v1/projects", params=params).json()["projects"]
        if not page:
            break
        assert len(page) <= 3
        seen += [p["name"] for p in page]
        last = page[-1]["name"]
    assert seen == names
    assert_problem(client.get("/api/v1/projects", params={"limit": "0"}), 422)


# --- projects: change, delete ----------------------------------------------------------------


def test_maintainers_change_visibility(team: Team) -> None:
    client = team.client
    assert push(client, "team-a/app", team["developer"]) == 201
    changed = client.patch(
        "/api/v1/projects/team-a", json={"public": True}, auth=team["maintainer"]
    )
    assert changed.status_code == 200 and changed.json()["public"] is True
    assert pull(client, "team-a/app", None) == 200
    assert push(client, "team-a/app", None, tag="v2") == 401  # public means pull, not push
    changed = client.patch(
        "/api/v1/projects/team-a", json={"public": False}, auth=team["project-admin"]
    )
    assert changed.json()["public"] is False
    assert pull(client, "team-a/app", None) == 401


@pytest.mark.parametrize(
    ("who", "status"),
    [("developer", 403), ("guest", 403), ("limited-guest", 403), ("stranger", 404)],
)
def test_others_cannot_change_visibility(team: Team, who: str, status: int) -> None:
    response = team.client.patch("/api/v1/projects/team-a", json={"public": True}, auth=team[who])
    assert_problem(response, status)
    assert team.client.get("/api/v1/projects/team-a", auth=ADMIN).json()["public"] is False


def test_anonymous_cannot_change_visibility(team: Team) -> None:
    for project in ("team-a", "pub"):
        response = team.client.patch(f"/api/v1/projects/{project}", json={"public": False})
        assert_problem(response, 401)
    assert team.client.get("/api/v1/projects/pub").json()["public"] is True


@pytest.mark.parametrize("body", [{}, {"public": "true"}, {"public": True, "name": "x"}, None])
def test_bad_visibility_changes_are_refused(team: Team, body: object) -> None:
    response = team.client.patch("/api/v1/projects/team-a", json=body, auth=ADMIN)
    assert_problem(response, 422)


def test_patching_an_unknown_project_is_404(client: TestClient) -> None:
    response = client.patch("/api/v1/projects/nope", json={"public": True}, auth=ADMIN)
    assert_problem(response, 404)


def test_delete_only_empty_projects_and_only_admins(team: Team) -> None:
    client = team.client
    add_project(client, "empty")
    assert push(client, "team-a/app", team["developer"]) == 201
    assert_problem(client.delete("/api/v1/projects/team-a", auth=ADMIN), 409, "repositories")
    assert_problem(client.delete("/api/v1/projects/team-a", auth=team["project-admin"]), 403)
    assert_problem(client.delete("/api/v1/projects/empty"), 401)
    assert_problem(client.delete("/api/v1/projects/empty", auth=team["project-admin"]), 403)
    assert client.delete("/api/v1/projects/empty", auth=ADMIN).status_code == 204
    assert_problem(client.delete("/api/v1/projects/empty", auth=ADMIN), 404)
    assert_problem(client.get("/api/v1/projects/empty", auth=ADMIN), 404)


def test_a_project_named_like_a_prefix_of_another_is_empty(client: TestClient) -> None:
    add_project(client, "team")
    add_project(client, "team-a")
    assert push(client, "team-a/app", ADMIN) == 201
    assert client.delete("/api/v1/projects/team", auth=ADMIN).status_code == 204


def test_a_single_segment_repository_keeps_its_project(client: TestClient) -> None:
    add_project(client, "alpine")
    assert push(client, "alpine", ADMIN) == 201
    assert_problem(client.delete("/api/v1/projects/alpine", auth=ADMIN), 409)


def test_a_recreated_project_starts_with_no_members(team: Team) -> None:
    client = team.client
    assert client.delete("/api/v1/projects/team-a", auth=ADMIN).status_code == 204
    add_project(client, "team-a")
    assert members(client) == []
    assert push(client, "team-a/app", team["developer"]) == 403


# --- members ---------------------------------------------------------------------------------


def test_grant_list_and_revoke(team: Team) -> None:
    client = team.client
    bob = add_user(client, "bob")
    assert push(client, "team-a/app", bob) == 403
    created = grant(client, "team-a", "developer", user="bob", auth=team["project-admin"])
    assert created["subject"] == "bob" and created["role"] == "developer"
    assert created["repositories"] == "*" and isinstance(created["id"], int)
    assert created in members(client)
    assert push(client, "team-a/app", bob) == 201

    revoked = client.delete(
        f"/api/v1/projects/team-a/members/{created['id']}", auth=team["project-admin"]
    )
    assert revoked.status_code == 204
    assert created not in members(client)
    assert push(client, "team-a/app", bob, tag="v2") == 403
    again = client.delete(f"/api/v1/projects/team-a/members/{created['id']}", auth=ADMIN)
    assert_problem(again, 404)


def test_a_repository_pattern_limits_the_grant(team: Team) -> None:
    client = team.client
    bob = add_user(client, "bob")
    grant(client, "team-a", "developer", user="bob", repositories="team-a/ci-*")
    assert push(client, "team-a/ci-app", bob) == 201
    assert push(client, "team-a/app", bob) == 403
    assert pull(client, "team-a/ci-app", bob) == 200


def test_granting_to_a_group(team: Team) -> None:
    client = team.client
    bob = add_user(client, "bob")
    client.post("/api/v1/groups", json={"name": "qa"}, auth=ADMIN)
    client.put("/api/v1/groups/qa/members/bob", auth=ADMIN)
    created = grant(client, "team-a", "guest", group="qa")
    assert created["subject_kind"] == "group" and created["subject"] == "qa"
    assert pull(client, "team-a/app", bob) == 404  # allowed; nothing there yet
    assert push(client, "team-a/app", bob) == 403


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"user": "guest", "role": "owner"}, "no role"),
        ({"user": "guest", "role": "Developer"}, "no role"),
        ({"user": "guest", "role": ""}, "no role"),
        ({"user": "guest", "role": "guest", "repositories": "team-b/*"}, "team-a/"),
        ({"user": "guest", "role": "guest", "repositories": "team-a"}, "team-a/"),
        ({"user": "guest", "role": "guest", "repositories": "team-ab/*"}, "team-a/"),
        ({"user": "guest", "role": "guest", "repositories": "**"}, "team-a/"),
        ({"user": "guest", "group": "qa", "role": "guest"}, "exactly one"),
        ({"role": "guest"}, "exactly one"),
        ({"user": "", "role": "guest"}, "has no name"),
        ({"group": "", "role": "guest"}, "has no name"),
        ({"user": "guest"}, "role"),
        ({"user": "guest", "role": "guest", "expires": 1}, "expires"),
        ({"user": ["guest"], "role": "guest"}, "user"),
    ],
)
def test_bad_grants_are_refused(team: Team, body: dict[str, object], detail: str) -> None:
    before = members(team.client)
    response = team.client.post("/api/v1/projects/team-a/members", json=body, auth=ADMIN)
    assert_problem(response, 422, detail)
    assert members(team.client) == before


def test_granting_to_an_unknown_user_is_404(team: Team) -> None:
    response = team.client.post(
        "/api/v1/projects/team-a/members", json={"user": "nobody", "role": "guest"}, auth=ADMIN
    )
    assert_problem(response, 404, "nobody")


def test_granting_in_an_unknown_project_is_404(client: TestClient) -> None:
    add_user(client, "bob")
    response = client.post(
        "/api/v1/projects/nope/members", json={"user": "bob", "role": "guest"}, auth=ADMIN
    )
    assert_problem(response, 404, "nope")


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("maintainer", 403),
        ("developer", 403),
        ("guest", 403),
        ("limited-guest", 403),
        ("stranger", 404),
        ("anonymous", 401),
    ],
)
def test_only_project_admins_grant_and_revoke(team: Team, who: str, status: int) -> None:
    client = team.client
    body = {"user": "stranger", "role": "project-admin"}
    response = client.post("/api/v1/projects/team-a/members", json=body, auth=team[who])
    assert_problem(response, status)
    existing = next(m for m in members(client) if m["subject"] == "guest")
    response = client.delete(f"/api/v1/projects/team-a/members/{existing['id']}", auth=team[who])
    assert_problem(response, status)
    assert existing in members(client)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("project-admin", 200),
        ("maintainer", 200),
        ("developer", 200),
        ("guest", 200),
        ("limited-guest", 403),
        ("stranger", 404),
        ("anonymous", 401),
    ],
)
def test_who_sees_the_members(team: Team, who: str, status: int) -> None:
    response = team.client.get("/api/v1/projects/team-a/members", auth=team[who])
    if status == 200:
        assert response.status_code == 200
        assert {m["subject"] for m in response.json()["members"]} == {
            "project-admin",
            "maintainer",
            "developer",
            "guest",
            "limited-guest",
        }
    else:
        assert_problem(response, status)


def test_a_project_admin_of_one_project_has_no_say_in_another(team: Team) -> None:
    client = team.client
    add_project(client, "team-b")
    body = {"user": "project-admin", "role": "project-admin"}
    response = client.post("/api/v1/projects/team-b/members", json=body, auth=team["project-admin"])
    assert_problem(response, 404)
    response = client.post("/api/v1/projects/pub/members", json=body, auth=team["project-admin"])
    assert_problem(response, 403)  # public: it exists, but they may not manage it
    team_a = next(m for m in members(client) if m["subject"] == "guest")
    # a grant id of team-a addressed through another project is not found there
    grant(client, "team-b", "project-admin", user="stranger")
    response = client.delete(
        f"/api/v1/projects/team-b/members/{team_a['id']}", auth=team["stranger"]
    )
    assert_problem(response, 404)
    assert team_a in members(client)


def test_a_grant_id_must_be_a_number(team: Team) -> None:
    response = team.client.delete("/api/v1/projects/team-a/members/abc", auth=ADMIN)
    assert response.status_code == 404


def test_a_granted_role_is_the_role_on_the_registry(team: Team) -> None:
    client = team.client
    assert push(client, "team-a/app", team["developer"]) == 201
    digest_of = client.get(
        "/v2/team-a/app/manifests/v1", headers={"Accept": OCI_MANIFEST}, auth=ADMIN
    ).headers["docker-content-digest"]
    for role in ("guest", "limited-guest"):
        assert pull(client, "team-a/app", team[role]) == 200
        assert push(client, "team-a/app", team[role], tag="g") == 403
    deleted = client.delete(f"/v2/team-a/app/manifests/{digest_of}", auth=team["developer"])
    assert deleted.status_code == 403
    deleted = client.delete(f"/v2/team-a/app/manifests/{digest_of}", auth=team["maintainer"])
    assert deleted.status_code == 202


# --- roles -----------------------------------------------------------------------------------


def test_roles_list_built_ins_and_custom_ones(team: Team) -> None:
    client = team.client
    created = client.post(
        "/api/v1/roles",
        json={"name": "ci-pusher", "actions": ["push", "pull"], "description": "CI"},
        auth=ADMIN,
    )
    assert created.status_code == 201, created.text
    assert created.json() == {"name": "ci-pusher", "actions": ["pull", "push"], "description": "CI"}
    for who in ("stranger", "guest"):
        listed = client.get("/api/v1/roles", auth=team[who])
        assert listed.status_code == 200
        roles = {r["name"]: r for r in listed.json()["roles"]}
        assert set(roles) == {
            "project-admin",
            "maintainer",
            "developer",
            "guest",
            "limited-guest",
            "ci-pusher",
        }
        assert roles["guest"]["actions"] == ["pull", "read-project"]
        assert roles["ci-pusher"]["actions"] == ["pull", "push"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"name": "x", "actions": ["pull", "fly"]}, "unknown action"),
        ({"name": "x", "actions": ["PULL"]}, "unknown action"),
        ({"name": "developer", "actions": ["pull"]}, "built-in"),
        ({"name": "guest", "actions": ["pull", "push"]}, "built-in"),
        ({"name": "CI Pusher", "actions": ["pull"]}, "not a valid name"),
        ({"name": "", "actions": ["pull"]}, "not a valid name"),
        ({"name": "x", "actions": "pull"}, "actions"),
        ({"name": "x"}, "actions"),
        ({"name": "x", "actions": ["pull"], "scope": "*"}, "scope"),
    ],
)
def test_bad_roles_are_refused(client: TestClient, body: dict[str, object], detail: str) -> None:
    assert_problem(client.post("/api/v1/roles", json=body, auth=ADMIN), 422, detail)
    roles = client.get("/api/v1/roles", auth=ADMIN).json()["roles"]
    assert [r["name"] for r in roles if r["description"] != "built-in"] == []


def test_role_names_are_unique_and_only_admins_define_them(team: Team) -> None:
    client = team.client
    body = {"name": "ci-pusher", "actions": ["pull", "push"]}
    assert client.post("/api/v1/roles", json=body, auth=ADMIN).status_code == 201
    assert_problem(client.post("/api/v1/roles", json=body, auth=ADMIN), 409)
    mine = {"name": "mine", "actions": ["pull"]}
    assert_problem(client.post("/api/v1/roles", json=mine, auth=team["project-admin"]), 403)
    assert_problem(client.delete("/api/v1/roles/ci-pusher", auth=team["project-admin"]), 403)
    assert_problem(client.post("/api/v1/roles", json=mine), 401)


def test_a_custom_role_allows_exactly_its_actions(team: Team) -> None:
    client = team.client
    body = {"name": "ci-pusher", "actions": ["pull", "push"]}
    assert client.post("/api/v1/roles", json=body, auth=ADMIN).status_code == 201
    bob = add_user(client, "bob")
    grant(client, "team-a", "ci-pusher", user="bob", auth=team["project-admin"])
    assert push(client, "team-a/app", bob) == 201
    assert pull(client, "team-a/app", bob) == 200
    digest_of = client.get(
        "/v2/team-a/app/manifests/v1", headers={"Accept": OCI_MANIFEST}, auth=bob
    ).headers["docker-content-digest"]
    assert client.delete(f"/v2/team-a/app/manifests/{digest_of}", auth=bob).status_code == 403
    assert client.delete("/v2/team-a/app/manifests/v1", auth=bob).status_code == 403
    # no read-project: the project is visible (they pull) but its members are not
    assert client.get("/api/v1/projects/team-a", auth=bob).status_code == 200
    assert_problem(client.get("/api/v1/projects/team-a/members", auth=bob), 403)
    # token auth hands out the same
    token = client.get(
        "/token",
        params={"service": "dockyard", "scope": "repository:team-a/app:pull,push,delete"},
        auth=bob,
    ).json()
    assert token["scope"] == "repository:team-a/app:pull,push"


def test_a_project_level_custom_role(team: Team) -> None:
    client = team.client
    body = {"name": "auditor", "actions": ["read-project", "read-audit"]}
    assert client.post("/api/v1/roles", json=body, auth=ADMIN).status_code == 201
    bob = add_user(client, "bob")
    grant(client, "team-a", "auditor", user="bob")
    assert client.get("/api/v1/projects/team-a/members", auth=bob).status_code == 200
    entries = client.get("/api/v1/audit", params={"project": "team-a"}, auth=bob)
    assert entries.status_code == 200
    assert pull(client, "team-a/app", bob) == 403


def test_deleting_a_role(team: Team) -> None:
    client = team.client
    body = {"name": "ci-pusher", "actions": ["pull", "push"]}
    client.post("/api/v1/roles", json=body, auth=ADMIN)
    bob = add_user(client, "bob")
    grant(client, "team-a", "ci-pusher", user="bob")
    assert push(client, "team-a/app", bob) == 201
    assert client.delete("/api/v1/roles/ci-pusher", auth=ADMIN).status_code == 204
    assert push(client, "team-a/app", bob, tag="v2") == 403
    assert_problem(client.delete("/api/v1/roles/ci-pusher", auth=ADMIN), 404)
    assert_problem(client.delete("/api/v1/roles/developer", auth=ADMIN), 404)
    response = client.post(
        "/api/v1/projects/team-a/members", json={"user": "bob", "role": "ci-pusher"}, auth=ADMIN
    )
    assert_problem(response, 422, "no role")


def test_project_and_member_changes_are_audited(team: Team) -> None:
    client = team.client
    add_user(client, "bob")
    created = grant(client, "team-a", "developer", user="bob", auth=team["project-admin"])
    client.delete(f"/api/v1/projects/team-a/members/{created['id']}", auth=team["project-admin"])
    client.patch("/api/v1/projects/team-a", json={"public": True}, auth=team["maintainer"])
    client.post("/api/v1/roles", json={"name": "r1", "actions": ["pull"]}, auth=ADMIN)
    client.delete("/api/v1/roles/r1", auth=ADMIN)
    add_project(client, "gone")
    client.delete("/api/v1/projects/gone", auth=ADMIN)

    def entry(action: str, target: str) -> dict[str, object]:
        found = audit(client, action=action, target=target)
        assert found, (action, target)
        return found[0]

    grant_entry = entry("member.grant", "team-a")
    assert grant_entry["actor"] == "project-admin"
    assert grant_entry["detail"] == {
        "subject": "user:bob",
        "role": "developer",
        "repositories": "*",
    }
    assert entry("member.revoke", "team-a")["detail"] == {"grant": created["id"]}
    assert entry("project.visibility", "team-a")["actor"] == "maintainer"
    assert entry("role.create", "r1")["actor"] == "admin"
    assert entry("role.delete", "r1")["actor"] == "admin"
    assert entry("project.create", "gone")["actor"] == "admin"
    assert entry("project.delete", "gone")["actor"] == "admin"


def test_refusals_change_nothing_and_name_the_actor(team: Team) -> None:
    client = team.client
    response = client.patch("/api/v1/projects/team-a", json={"public": True}, auth=team["guest"])
    detail = assert_problem(response, 403)
    assert "guest" in detail and "manage-policies" in detail
    assert audit(client, action="project.visibility") == []
    assert password_of("guest") not in response.text
