"""Robot accounts, personal access tokens and signing-key rotation through the management API,
each checked by using the credentials on the registry (/v2/ and /token)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from dockyard.auth.secrets import digest, new_access_token
from dockyard.meta.auth_records import AccessTokenRecord
from tests.api.manage_helpers import (
    Creds,
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
    token_status,
)
from tests.conftest import ADMIN

CI_ROBOT = "robot$team-a+ci"
PUSH_CI = [{"repositories": "team-a/ci-*", "actions": ["pull", "push"]}]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with registry(tmp_path) as test_client:
        yield test_client


@pytest.fixture
def team(client: TestClient) -> Team:
    return make_team(client)


def create_robot(
    client: TestClient,
    name: str = "ci",
    permissions: list[dict[str, Any]] | None = None,
    *,
    project: str | None = "team-a",
    auth: Creds = ADMIN,
    **extra: Any,
) -> dict[str, Any]:
    path = f"/api/v1/projects/{project}/robots" if project else "/api/v1/robots"
    body = {"name": name, "permissions": permissions or PUSH_CI, **extra}
    response = client.post(path, json=body, auth=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


def run_in_app(client: TestClient, work: Any) -> Any:
    store = client.app.state.registry.store  # type: ignore[attr-defined]

    async def run() -> Any:
        async with store.transaction() as tx:
            return await work(tx)

    assert client.portal is not None
    return client.portal.call(run)


# --- project robots --------------------------------------------------------------------------


def test_a_project_robot_pushes_within_its_pattern_only(team: Team) -> None:
    client = team.client
    created = create_robot(client, auth=team["maintainer"], description="CI pipeline")
    assert created["name"] == CI_ROBOT and created["project"] == "team-a"
    assert created["permissions"] == [{"repositories": "team-a/ci-*", "actions": ["pull", "push"]}]
    assert created["created_by"] == "maintainer" and created["description"] == "CI pipeline"
    assert created["disabled"] is False and created["expires_at"] is None
    assert "secret_hash" not in created and len(created["secret"]) >= 40
    robot = (CI_ROBOT, created["secret"])

    assert push(client, "team-a/ci-app", robot) == 201
    assert pull(client, "team-a/ci-app", robot) == 200
    assert push(client, "team-a/app", robot) == 403
    assert push(client, "pub/ci-app", robot) == 403
    assert push(client, "team-b/ci-app", robot) == 403  # no creating projects either
    token = client.get(
        "/token",
        params={"service": "dockyard", "scope": "repository:team-a/ci-app:pull,push,delete"},
        auth=robot,
    )
    assert token.json()["scope"] == "repository:team-a/ci-app:pull,push"
    me = client.get("/api/v1/me", auth=robot).json()
    assert me == {"username": CI_ROBOT, "kind": "robot"}


def test_the_secret_is_shown_once(team: Team) -> None:
    client = team.client
    secret = create_robot(client)["secret"]
    for who in ("admin", "project-admin", "maintainer", "developer", "guest"):
        listed = client.get("/api/v1/projects/team-a/robots", auth=team[who])
        assert listed.status_code == 200, (who, listed.text)
        assert secret not in listed.text and digest(secret) not in listed.text
        [robot] = listed.json()["robots"]
        assert robot["name"] == CI_ROBOT
        assert "secret" not in robot and "secret_hash" not in robot
    assert secret not in str(audit(client)) and digest(secret) not in str(audit(client))


@pytest.mark.parametrize(
    ("who", "status"), [("limited-guest", 403), ("stranger", 404), ("anonymous", 401)]
)
def test_who_may_not_list_robots(team: Team, who: str, status: int) -> None:
    create_robot(team.client)
    assert_problem(team.client.get("/api/v1/projects/team-a/robots", auth=team[who]), status)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("developer", 403),
        ("guest", 403),
        ("limited-guest", 403),
        ("stranger", 404),
        ("anonymous", 401),
    ],
)
def test_who_may_not_manage_robots(team: Team, who: str, status: int) -> None:
    client = team.client
    create_robot(client)
    body = {"name": "mine", "permissions": PUSH_CI}
    assert_problem(client.post("/api/v1/projects/team-a/robots", json=body, auth=team[who]), status)
    robot = f"/api/v1/robots/{CI_ROBOT}"
    assert_problem(client.patch(robot, json={"disabled": True}, auth=team[who]), status)
    assert_problem(client.post(f"{robot}/rotate", auth=team[who]), status)
    assert_problem(client.delete(robot, auth=team[who]), status)
    listed = client.get("/api/v1/projects/team-a/robots", auth=ADMIN).json()["robots"]
    assert [(r["name"], r["disabled"]) for r in listed] == [(CI_ROBOT, False)]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"name": "CI", "permissions": PUSH_CI}, "robot name"),
        ({"name": "c i", "permissions": PUSH_CI}, "robot name"),
        ({"name": "", "permissions": PUSH_CI}, "robot name"),
        ({"name": "ci+x", "permissions": PUSH_CI}, "robot name"),
        (
            {"name": "ci", "permissions": [{"repositories": "team-b/*", "actions": ["pull"]}]},
            "team-a/",
        ),
        (
            {"name": "ci", "permissions": [{"repositories": "team-a", "actions": ["pull"]}]},
            "team-a/",
        ),
        (
            {"name": "ci", "permissions": [{"repositories": "*", "actions": ["pull", "fly"]}]},
            "unknown action",
        ),
        ({"name": "ci", "permissions": [{"repositories": "*", "actions": "pull"}]}, "actions"),
        ({"name": "ci", "permissions": [{"repositories": "*"}]}, "actions"),
        ({"name": "ci"}, "permissions"),
        ({"name": "ci", "permissions": PUSH_CI, "expires_in_days": 0}, "expires_in_days"),
        ({"name": "ci", "permissions": PUSH_CI, "expires_in_days": 3651}, "expires_in_days"),
        ({"name": "ci", "permissions": PUSH_CI, "expires_in_days": "7"}, "expires_in_days"),
        ({"name": "ci", "permissions": PUSH_CI, "secret": "mine"}, "secret"),
    ],
)
def test_bad_robots_are_refused(team: Team, body: dict[str, Any], detail: str) -> None:
    response = team.client.post("/api/v1/projects/team-a/robots", json=body, auth=ADMIN)
    assert_problem(response, 422, detail)
    assert team.client.get("/api/v1/projects/team-a/robots", auth=ADMIN).json()["robots"] == []


def test_robot_names_are_unique_per_project(team: Team) -> None:
    client = team.client
    add_project(client, "team-b")
    create_robot(client)
    again = client.post(
        "/api/v1/projects/team-a/robots", json={"name": "ci", "permissions": PUSH_CI}, auth=ADMIN
    )
    assert_problem(again, 409, CI_ROBOT)
    other = create_robot(
        client, project="team-b", permissions=[{"repositories": "*", "actions": ["pull"]}]
    )
    assert other["name"] == "robot$team-b+ci"


def test_robots_in_an_unknown_project(client: TestClient) -> None:
    body = {"name": "ci", "permissions": [{"repositories": "*", "actions": ["pull"]}]}
    assert_problem(client.post("/api/v1/projects/nope/robots", json=body, auth=ADMIN), 404)
    assert_problem(client.get("/api/v1/projects/nope/robots", auth=ADMIN), 404)
    for response in (
        client.patch("/api/v1/robots/robot$nope+ci", json={"disabled": True}, auth=ADMIN),
        client.post("/api/v1/robots/robot$nope+ci/rotate", auth=ADMIN),
        client.delete("/api/v1/robots/robot$nope+ci", auth=ADMIN),
    ):
        assert_problem(response, 404)


def test_disable_and_enable(team: Team) -> None:
    client = team.client
    robot = (CI_ROBOT, create_robot(client)["secret"])
    assert push(client, "team-a/ci-app", robot) == 201
    off = client.patch(
        f"/api/v1/robots/{CI_ROBOT}", json={"disabled": True}, auth=team["maintainer"]
    )
    assert off.status_code == 204
    assert pull(client, "team-a/ci-app", robot) == 401
    assert token_status(client, robot, "repository:team-a/ci-app:pull") == 401
    assert_problem(client.get("/api/v1/me", auth=robot), 401)
    listed = client.get("/api/v1/projects/team-a/robots", auth=ADMIN).json()["robots"]
    assert listed[0]["disabled"] is True
    on = client.patch(f"/api/v1/robots/{CI_ROBOT}", json={"disabled": False}, auth=ADMIN)
    assert on.status_code == 204
    assert pull(client, "team-a/ci-app", robot) == 200
    assert_problem(client.patch(f"/api/v1/robots/{CI_ROBOT}", json={}, auth=ADMIN), 422)
    bad = client.patch(f"/api/v1/robots/{CI_ROBOT}", json={"disabled": "yes"}, auth=ADMIN)
    assert_problem(bad, 422)


def test_rotate_replaces_the_secret(team: Team) -> None:
    client = team.client
    old = create_robot(client)["secret"]
    rotated = client.post(f"/api/v1/robots/{CI_ROBOT}/rotate", auth=team["project-admin"])
    assert rotated.status_code == 200
    assert rotated.json()["name"] == CI_ROBOT
    new = rotated.json()["secret"]
    assert new != old
    assert pull(client, "team-a/ci-app", (CI_ROBOT, old)) == 401
    assert push(client, "team-a/ci-app", (CI_ROBOT, new)) == 201
    assert new not in client.get("/api/v1/projects/team-a/robots", auth=ADMIN).text


def test_delete_a_robot(team: Team) -> None:
    client = team.client
    robot = (CI_ROBOT, create_robot(client)["secret"])
    assert client.delete(f"/api/v1/robots/{CI_ROBOT}", auth=team["maintainer"]).status_code == 204
    assert pull(client, "team-a/ci-app", robot) == 401
    assert client.get("/api/v1/projects/team-a/robots", auth=ADMIN).json()["robots"] == []
    assert_problem(client.delete(f"/api/v1/robots/{CI_ROBOT}", auth=ADMIN), 404)


def test_expiry(team: Team) -> None:
    client = team.client
    before = time.time()
    created = create_robot(client, expires_in_days=7)
    assert before + 7 * 86400 - 5 <= created["expires_at"] <= time.time() + 7 * 86400 + 5
    robot = (CI_ROBOT, created["secret"])
    assert push(client, "team-a/ci-app", robot) == 201

    async def expire(tx: Any) -> None:
        await tx.access.update_robot(CI_ROBOT, expires_at=time.time() - 1)

    run_in_app(client, expire)
    assert pull(client, "team-a/ci-app", robot) == 401
    assert token_status(client, robot, "repository:team-a/ci-app:pull") == 401
    failed = audit(client, action="login", target=CI_ROBOT, outcome="failed")
    assert failed and failed[0]["detail"] == {"reason": "robot disabled or expired"}


def test_a_project_admin_has_no_say_over_another_projects_robots(team: Team) -> None:
    client = team.client
    add_project(client, "team-b")
    create_robot(client, project="team-b", permissions=[{"repositories": "*", "actions": ["pull"]}])
    body = {"name": "sneaky", "permissions": [{"repositories": "*", "actions": ["pull"]}]}
    padmin = team["project-admin"]
    assert_problem(client.post("/api/v1/projects/team-b/robots", json=body, auth=padmin), 404)
    assert_problem(client.post("/api/v1/projects/pub/robots", json=body, auth=padmin), 403)
    # a team-a pattern in a team-b robot would not help either
    body = {"name": "sneaky", "permissions": [{"repositories": "team-a/*", "actions": ["pull"]}]}
    assert_problem(client.post("/api/v1/projects/team-b/robots", json=body, auth=ADMIN), 422)
    robot = "/api/v1/robots/robot$team-b+ci"
    assert_problem(client.post(f"{robot}/rotate", auth=padmin), 404)
    assert_problem(client.patch(robot, json={"disabled": True}, auth=padmin), 404)
    assert_problem(client.delete(robot, auth=padmin), 404)
    # and whether team-b has such a robot does not show
    unknown = client.delete("/api/v1/robots/robot$team-b+nope", auth=padmin)
    known = client.delete(robot, auth=padmin)
    assert unknown.status_code == known.status_code == 404
    assert unknown.json()["detail"].replace("nope", "ci") == known.json()["detail"]


def test_a_robot_gets_no_more_than_its_creator_holds(team: Team) -> None:
    """manage-robots must not be a back door to manage-members, or to actions a custom role
    left out."""
    client = team.client
    body = {
        "name": "escalate",
        "permissions": [{"repositories": "*", "actions": ["manage-members"]}],
    }
    response = client.post("/api/v1/projects/team-a/robots", json=body, auth=team["maintainer"])
    assert_problem(response, 403, "manage-members")
    client.post(
        "/api/v1/roles",
        json={"name": "robot-keeper", "actions": ["pull", "manage-robots"]},
        auth=ADMIN,
    )
    keeper = add_user(client, "keeper")
    grant(client, "team-a", "robot-keeper", user="keeper")
    body = {"name": "pusher", "permissions": [{"repositories": "*", "actions": ["push"]}]}
    response = client.post("/api/v1/projects/team-a/robots", json=body, auth=keeper)
    assert_problem(response, 403, "push")
    body = {"name": "puller", "permissions": [{"repositories": "*", "actions": ["pull"]}]}
    assert client.post("/api/v1/projects/team-a/robots", json=body, auth=keeper).status_code == 201
    # rotating a stronger robot's secret would hand its power over just the same
    create_robot(client, "strong", [{"repositories": "*", "actions": ["pull", "push"]}])
    assert_problem(client.post("/api/v1/robots/robot$team-a+strong/rotate", auth=keeper), 403)
    assert_problem(client.post("/api/v1/projects/team-a/robots", json=body, auth=keeper), 409)
    # and nothing of the kind was created
    names = [
        r["name"] for r in client.get("/api/v1/projects/team-a/robots", auth=ADMIN).json()["robots"]
    ]
    assert names == ["robot$team-a+puller", "robot$team-a+strong"]


def test_a_robot_with_management_actions_manages_within_them(team: Team) -> None:
    client = team.client
    created = create_robot(
        client, "ops", [{"repositories": "*", "actions": ["read-project", "manage-members"]}]
    )
    robot = ("robot$team-a+ops", created["secret"])
    assert client.get("/api/v1/projects/team-a/members", auth=robot).status_code == 200
    body = {"user": "stranger", "role": "guest"}
    response = client.post("/api/v1/projects/team-a/members", json=body, auth=robot)
    assert response.status_code == 201
    assert_problem(client.patch("/api/v1/projects/team-a", json={"public": True}, auth=robot), 403)
    assert_problem(client.get("/api/v1/users", auth=robot), 403)
    assert_problem(client.get("/api/v1/me/tokens", auth=robot), 403)


# --- system robots ---------------------------------------------------------------------------


def test_a_system_robot_pulls_from_every_project(team: Team) -> None:
    client = team.client
    add_project(client, "secret")
    for repo in ("team-a/app", "pub/app", "secret/app"):
        assert push(client, repo, ADMIN) == 201
    created = create_robot(
        client, "scanner", [{"repositories": "*", "actions": ["pull"]}], project=None
    )
    assert created["name"] == "robot$scanner" and created["project"] is None
    robot = ("robot$scanner", created["secret"])
    for repo in ("team-a/app", "pub/app", "secret/app"):
        assert pull(client, repo, robot) == 200
        assert push(client, repo, robot, tag="v2") == 403
    listed = client.get("/api/v1/robots", auth=ADMIN).json()["robots"]
    assert [r["name"] for r in listed] == ["robot$scanner"]
    assert created["secret"] not in str(listed)


def test_a_system_robot_with_a_pattern(team: Team) -> None:
    client = team.client
    assert push(client, "team-a/app", ADMIN) == 201
    assert push(client, "pub/app", ADMIN) == 201
    created = create_robot(
        client, "mirror", [{"repositories": "pub/*", "actions": ["pull", "push"]}], project=None
    )
    robot = ("robot$mirror", created["secret"])
    assert push(client, "pub/app", robot, tag="v2") == 201
    assert pull(client, "team-a/app", robot) == 403


@pytest.mark.parametrize("who", ["project-admin", "maintainer", "stranger"])
def test_only_admins_manage_system_robots(team: Team, who: str) -> None:
    client = team.client
    create_robot(client, "scanner", [{"repositories": "*", "actions": ["pull"]}], project=None)
    body = {"name": "mine", "permissions": [{"repositories": "*", "actions": ["pull"]}]}
    assert_problem(client.post("/api/v1/robots", json=body, auth=team[who]), 403)
    assert_problem(client.get("/api/v1/robots", auth=team[who]), 403)
    robot = "/api/v1/robots/robot$scanner"
    assert_problem(client.post(f"{robot}/rotate", auth=team[who]), 403)
    assert_problem(client.patch(robot, json={"disabled": True}, auth=team[who]), 403)
    assert_problem(client.delete(robot, auth=team[who]), 403)


@pytest.mark.parametrize("pattern", ["Team/*", "/x", "a//b", "UPPER"])
def test_bad_system_robot_patterns(client: TestClient, pattern: str) -> None:
    body = {"name": "x", "permissions": [{"repositories": pattern, "actions": ["pull"]}]}
    assert_problem(client.post("/api/v1/robots", json=body, auth=ADMIN), 422, "pattern")


def test_robot_changes_are_audited(team: Team) -> None:
    client = team.client
    create_robot(client, auth=team["maintainer"])
    client.patch(f"/api/v1/robots/{CI_ROBOT}", json={"disabled": True}, auth=team["maintainer"])
    client.patch(f"/api/v1/robots/{CI_ROBOT}", json={"disabled": False}, auth=team["maintainer"])
    client.post(f"/api/v1/robots/{CI_ROBOT}/rotate", auth=team["maintainer"])
    client.delete(f"/api/v1/robots/{CI_ROBOT}", auth=team["maintainer"])
    entries = audit(client, target=CI_ROBOT, action="robot.")
    assert [e["action"] for e in reversed(entries)] == [
        "robot.create",
        "robot.disable",
        "robot.enable",
        "robot.rotate",
        "robot.delete",
    ]
    assert {e["actor"] for e in entries} == {"maintainer"}
    assert entries[-1]["detail"]["permissions"] == PUSH_CI


# --- personal access tokens ------------------------------------------------------------------


def test_personal_access_token_life(team: Team) -> None:
    client = team.client
    dev = team["developer"]
    created = client.post("/api/v1/me/tokens", json={"name": "laptop"}, auth=dev)
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["token"]
    assert token.startswith("dyp_") and body["name"] == "laptop" and body["expires_at"] is None
    assert "secret_hash" not in body
    listed = client.get("/api/v1/me/tokens", auth=dev)
    assert [t["id"] for t in listed.json()["tokens"]] == [body["id"]]
    assert token not in listed.text and token.split("_")[-1] not in listed.text
    assert "secret_hash" not in listed.json()["tokens"][0]

    with_token = ("developer", token)
    assert token_status(client, with_token, "repository:team-a/app:pull,push") == 200
    assert push(client, "team-a/app", with_token) == 201
    assert client.get("/api/v1/me", auth=with_token).json()["username"] == "developer"
    # the token is the developer's, not anyone's
    assert token_status(client, ("guest", token)) == 401

    assert client.delete(f"/api/v1/me/tokens/{body['id']}", auth=dev).status_code == 204
    assert token_status(client, with_token) == 401
    assert client.get("/api/v1/me/tokens", auth=dev).json()["tokens"] == []
    assert_problem(client.delete(f"/api/v1/me/tokens/{body['id']}", auth=dev), 404)


def test_an_expiring_token(team: Team) -> None:
    client = team.client
    created = client.post(
        "/api/v1/me/tokens", json={"name": "ci", "expires_in_days": 30}, auth=team["guest"]
    ).json()
    assert abs(created["expires_at"] - (time.time() + 30 * 86400)) < 10
    # one that ran out (written straight to the store)
    token_id, secret, token = new_access_token()

    async def add_expired(tx: Any) -> None:
        user = await tx.identities.user("guest")
        await tx.identities.add_token(
            AccessTokenRecord(token_id, user.id, "old", time.time() - 100, digest(secret), 1.0)
        )

    run_in_app(client, add_expired)
    assert token_status(client, ("guest", token)) == 401


def test_nobody_revokes_anothers_token(team: Team) -> None:
    client = team.client
    mine = client.post("/api/v1/me/tokens", json={"name": "x"}, auth=team["guest"]).json()
    for who in ("developer", "admin"):
        assert_problem(client.delete(f"/api/v1/me/tokens/{mine['id']}", auth=team[who]), 404)
    assert token_status(client, ("guest", mine["token"])) == 200


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x" * 101},
        {"name": "x", "expires_in_days": 0},
        {"name": "x", "expires_in_days": -1},
        {"name": "x", "expires_in_days": 3651},
        {"name": "x", "scopes": ["push"]},
        {},
    ],
)
def test_bad_tokens_are_refused(team: Team, body: dict[str, Any]) -> None:
    response = team.client.post("/api/v1/me/tokens", json=body, auth=team["guest"])
    assert_problem(response, 422)


def test_robots_and_anonymous_have_no_personal_tokens(team: Team) -> None:
    client = team.client
    robot = (CI_ROBOT, create_robot(client)["secret"])
    assert_problem(client.post("/api/v1/me/tokens", json={"name": "x"}, auth=robot), 403)
    assert_problem(client.get("/api/v1/me/tokens", auth=robot), 403)
    assert_problem(client.post("/api/v1/me/tokens", json={"name": "x"}), 401)


def test_a_disabled_users_token_stops_working(team: Team) -> None:
    client = team.client
    token = client.post("/api/v1/me/tokens", json={"name": "x"}, auth=team["guest"]).json()
    client.patch("/api/v1/users/guest", json={"disabled": True}, auth=ADMIN)
    assert token_status(client, ("guest", token["token"])) == 401


def test_tokens_are_audited_without_their_secret(team: Team) -> None:
    client = team.client
    created = client.post("/api/v1/me/tokens", json={"name": "laptop"}, auth=team["guest"]).json()
    client.delete(f"/api/v1/me/tokens/{created['id']}", auth=team["guest"])
    entries = audit(client, actor="guest", action="token.")
    assert [(e["action"], e["target"]) for e in entries] == [
        ("token.revoke", "guest"),
        ("token.create", "guest"),
    ]
    assert entries[1]["detail"] == {"id": created["id"], "name": "laptop"}
    assert created["token"] not in str(audit(client))


# --- signing keys ----------------------------------------------------------------------------


def test_key_rotation_keeps_issued_tokens_valid(team: Team) -> None:
    client = team.client
    assert push(client, "team-a/app", ADMIN) == 201

    def token() -> str:
        response = client.get(
            "/token",
            params={"service": "dockyard", "scope": "repository:team-a/app:pull"},
            auth=team["guest"],
        )
        assert response.status_code == 200
        return str(response.json()["token"])

    before = token()
    old_kid = jwt.get_unverified_header(before)["kid"]
    rotated = client.post("/api/v1/auth/keys/rotate", auth=ADMIN)
    assert rotated.status_code == 200
    kid = rotated.json()["kid"]
    assert kid != old_kid
    after = token()
    assert jwt.get_unverified_header(after)["kid"] == kid
    for bearer in (before, after):
        response = client.get(
            "/v2/team-a/app/manifests/v1",
            headers={"Authorization": f"Bearer {bearer}", "Accept": "*/*"},
        )
        assert response.status_code == 200
    [entry] = audit(client, action="keys.rotate")
    assert entry["actor"] == "admin" and entry["target"] == kid


def test_only_admins_rotate_keys(team: Team) -> None:
    client = team.client
    robot = (CI_ROBOT, create_robot(client)["secret"])
    for creds in (team["project-admin"], team["stranger"], robot):
        assert_problem(client.post("/api/v1/auth/keys/rotate", auth=creds), 403)
    assert_problem(client.post("/api/v1/auth/keys/rotate"), 401)
    assert audit(client, action="keys.rotate") == []
    assert password_of("stranger") not in str(audit(client))
