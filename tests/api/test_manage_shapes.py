"""The management API on every deployment shape (a smoke run of its main path), and fuzzed
request bodies that must never be answered with a 500."""

from __future__ import annotations

import base64
import string
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.settings import Settings
from tests.api.manage_helpers import (
    add_project,
    add_user,
    assert_problem,
    grant,
    pull,
    push,
)
from tests.conftest import ADMIN, PG_URL, _pg_execute, _run_in_thread, service_missing


def test_the_main_path_on_every_shape(client: TestClient) -> None:
    """Create a user and a project, grant a role, make a robot, and read what was audited."""
    client.auth = None  # type: ignore[assignment]  # every call below says who it is
    bob = add_user(client, "bob")
    add_project(client, "team-a")
    grant(client, "team-a", "developer", user="bob")
    assert push(client, "team-a/app", bob) == 201
    assert pull(client, "team-a/app", None) == 401

    robot = client.post(
        "/api/v1/projects/team-a/robots",
        json={"name": "ci", "permissions": [{"repositories": "team-a/*", "actions": ["pull"]}]},
        auth=bob,
    )
    assert_problem(robot, 403)  # a developer does not manage robots
    robot = client.post(
        "/api/v1/projects/team-a/robots",
        json={"name": "ci", "permissions": [{"repositories": "team-a/*", "actions": ["pull"]}]},
        auth=ADMIN,
    )
    assert robot.status_code == 201, robot.text
    assert pull(client, "team-a/app", ("robot$team-a+ci", robot.json()["secret"])) == 200

    entries = client.get("/api/v1/audit", params={"limit": 1000}, auth=ADMIN).json()["entries"]
    actions = {(e["action"], e["target"]) for e in entries}
    assert {
        ("user.create", "bob"),
        ("project.create", "team-a"),
        ("member.grant", "team-a"),
        ("robot.create", "robot$team-a+ci"),
    } <= actions
    assert any(a == "push" and t.startswith("team-a/app@") for a, t in actions)
    scoped = client.get("/api/v1/audit", params={"project": "team-a"}, auth=ADMIN)
    assert {e["target"] for e in scoped.json()["entries"]} >= {"team-a", "robot$team-a+ci"}
    exported = client.get("/api/v1/audit/export", auth=ADMIN)
    assert len(exported.text.splitlines()) == len(entries)
    assert_problem(client.get("/api/v1/users", auth=bob), 403)


UNFIT_TEXT: list[tuple[str, str, Any]] = [
    ("POST", "/api/v1/users", {"username": "a\x00b", "password": "long-enough-password"}),
    ("POST", "/api/v1/users", {"username": "bob", "password": "long-enough-\x00password"}),
    (
        "POST",
        "/api/v1/users",
        {"username": "bob", "password": "long-enough-password", "email": "b\x00@x.test"},
    ),
    (
        "POST",
        "/api/v1/users",
        {"username": "bob", "password": "long-enough-password", "email": "e" * 256},
    ),
    ("POST", "/api/v1/groups", {"name": "dev\x00s"}),
    ("POST", "/api/v1/roles", {"name": "r" * 101, "actions": ["pull"]}),
    ("POST", "/api/v1/roles", {"name": "r", "actions": ["pull\x00"]}),
    ("POST", "/api/v1/projects/team-a/members", {"group": "g" * 256, "role": "guest"}),
    ("POST", "/api/v1/projects/team-a/members", {"group": "g\x00", "role": "guest"}),
    (
        "POST",
        "/api/v1/projects/team-a/members",
        {"group": "g", "role": "guest", "repositories": "team-a/" + "r" * 250},
    ),
    (
        "POST",
        "/api/v1/projects/team-a/robots",
        {"name": "n" * 250, "permissions": [{"repositories": "*", "actions": ["pull"]}]},
    ),
    (
        "POST",
        "/api/v1/projects/team-a/robots",
        {
            "name": "ci",
            "description": "\x00",
            "permissions": [{"repositories": "*", "actions": ["pull"]}],
        },
    ),
    ("GET", "/api/v1/users/a%00b", None),
    ("GET", "/api/v1/users?q=a%00", None),
    ("GET", "/api/v1/audit?actor=%00", None),
    ("GET", "/api/v1/audit?before=99999999999999999999999", None),
    ("GET", "/api/v1/audit?since=nan", None),
    ("GET", "/api/v1/audit/export?until=inf", None),
]


def test_text_the_database_cannot_hold_is_refused(client: TestClient) -> None:
    """NUL characters (PostgreSQL refuses them), text longer than its column and numbers out of
    range are the client's mistake: 422, on every shape."""
    client.post("/api/v1/projects", json={"name": "team-a"})
    for method, path, body in UNFIT_TEXT:
        response = client.request(method, path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        assert_problem(response, 422)


def test_nul_in_basic_credentials_is_a_bad_login(client: TestClient) -> None:
    client.auth = None  # type: ignore[assignment]
    value = base64.b64encode(b"adm\x00in:" + b"admin-test-password").decode()
    headers = {"Authorization": f"Basic {value}"}
    assert client.get("/v2/", headers=headers).status_code == 401
    assert client.get("/token", headers=headers).status_code == 401
    assert_problem(client.get("/api/v1/me", headers=headers), 401)


# --- never a 500 -----------------------------------------------------------------------------

ALPHABET = string.ascii_letters + string.digits + "-_.@$+/*: é\x00"
TEXT = st.text(ALPHABET, max_size=30)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)
PERMISSION = st.fixed_dictionaries(
    {},
    optional={
        "repositories": st.one_of(st.sampled_from(["*", "team-a/*", "team-a/ci-*", "x/*"]), JSON),
        "actions": st.one_of(
            st.lists(st.sampled_from(["pull", "push", "delete", "fly", ""]), max_size=3), JSON
        ),
    },
)
USER_BODY = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {},
        optional={
            "username": st.one_of(TEXT, JSON),
            "password": st.one_of(TEXT, st.text(min_size=12, max_size=40), JSON),
            "email": st.one_of(TEXT, JSON),
            "admin": st.one_of(st.booleans(), JSON),
            "extra": JSON,
        },
    ),
)
ROBOT_BODY = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(TEXT, JSON),
            "permissions": st.one_of(st.lists(PERMISSION, max_size=3), JSON),
            "expires_in_days": st.one_of(st.integers(-5, 5000), JSON),
            "description": st.one_of(TEXT, JSON),
        },
    ),
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module", params=["filesystem-sqlite", "memory-postgresql"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One registry for every example (the bodies are what varies), on SQLite and on
    PostgreSQL, which is the stricter about text."""
    data_dir = Path(tmp_path_factory.mktemp("fuzz"))
    schema = None
    if request.param == "filesystem-sqlite":
        settings = Settings(data_dir=data_dir)
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        try:
            _run_in_thread(_pg_execute(f'CREATE SCHEMA "{schema}"'))
        except (OSError, TimeoutError) as exc:
            service_missing(f"PostgreSQL at {PG_URL} ({exc})")
        database = {"url": PG_URL, "schema_name": schema, "auto_upgrade": True}
        settings = Settings(data_dir=data_dir, storage={"driver": "memory"}, database=database)
    try:
        with TestClient(create_app(settings), base_url="http://registry.test") as client:
            add_project(client, "team-a")
            yield client
    finally:
        if schema is not None:
            _run_in_thread(_pg_execute(f'DROP SCHEMA "{schema}" CASCADE'))


def _never_500(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_problem(response, response.status_code)


@FUZZ
@given(body=USER_BODY)
def test_user_bodies_never_break_the_server(fuzzed: TestClient, body: Any) -> None:
    response = fuzzed.post("/api/v1/users", json=body, auth=ADMIN)
    _never_500(response)
    if response.status_code == 201:
        assert fuzzed.delete(f"/api/v1/users/{body['username']}", auth=ADMIN).status_code == 204


@FUZZ
@given(body=ROBOT_BODY)
def test_robot_bodies_never_break_the_server(fuzzed: TestClient, body: Any) -> None:
    response = fuzzed.post("/api/v1/projects/team-a/robots", json=body, auth=ADMIN)
    _never_500(response)
    if response.status_code == 201:
        name = response.json()["name"]
        assert fuzzed.delete(f"/api/v1/robots/{name}", auth=ADMIN).status_code == 204


@FUZZ
@given(raw=st.binary(max_size=64))
def test_raw_bytes_never_break_the_server(fuzzed: TestClient, raw: bytes) -> None:
    for path in ("/api/v1/users", "/api/v1/projects/team-a/robots", "/api/v1/projects"):
        _never_500(fuzzed.post(path, content=raw, auth=ADMIN))
