"""Reading the audit log through the management API: filters, paging, project-scoped reading
and the JSON-lines export, checked against the entries in the store."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from dockyard.meta.auth_records import AuditRecord
from tests.api.manage_helpers import (
    Team,
    add_project,
    assert_problem,
    audit,
    grant,
    make_team,
    push,
    registry,
    store_audit,
)
from tests.conftest import ADMIN


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with registry(tmp_path) as test_client:
        yield test_client


@pytest.fixture
def team(client: TestClient) -> Team:
    return make_team(client)


def insert(client: TestClient, records: list[AuditRecord]) -> None:
    """Many entries at once, written straight to the store."""
    store = client.app.state.registry.store  # type: ignore[attr-defined]

    async def write() -> None:
        async with store.transaction() as tx:
            for record in records:
                await tx.audit.add(record)

    assert client.portal is not None
    client.portal.call(write)


def entry(at: float, target: str, action: str = "push", actor: str = "ci") -> AuditRecord:
    return AuditRecord(at, actor, "user", action, "ok", target)


def export(client: TestClient, auth: Any = ADMIN, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit/export", params=params, auth=auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    assert response.text == "" or response.text.endswith("\n")
    return [json.loads(line) for line in lines]


# --- what is recorded ------------------------------------------------------------------------


def test_changes_show_up_with_actor_target_and_address(team: Team) -> None:
    client = team.client
    assert push(client, "team-a/app", team["developer"]) == 201
    assert push(client, "team-a/app", team["guest"], tag="v2") == 403
    newest = audit(client, limit=1)[0]
    assert newest["action"] == "access" and newest["outcome"] == "denied"
    assert newest["actor"] == "guest" and newest["target"] == "team-a/app"
    assert newest["address"] and isinstance(newest["id"], int) and newest["at"] <= time.time()
    [pushed] = audit(client, action="push")
    assert pushed["actor"] == "developer" and pushed["target"].startswith("team-a/app@sha256:")
    assert pushed["detail"]["tag"] == "v1"
    created = audit(client, action="user.create", target="developer")
    assert created[0]["actor"] == "admin" and created[0]["detail"] == {"admin": False}


# --- filters ---------------------------------------------------------------------------------


def test_filters(team: Team) -> None:
    client = team.client
    add_project(client, "team-b")
    client.post("/auth/login", json={"username": "guest", "password": "wrong-password-1"})
    everything = audit(client, limit=1000)
    stored = store_audit(client, limit=1000)
    assert [e["id"] for e in everything] == [r.id for r in stored]

    def check(params: dict[str, Any], keep: Any) -> None:
        found = audit(client, limit=1000, **params)
        expected = [e for e in everything if keep(e)]
        assert found == expected, params
        assert found, params

    check({"actor": "admin"}, lambda e: e["actor"] == "admin")
    check({"action": "member.grant"}, lambda e: e["action"] == "member.grant")
    check({"action": "user."}, lambda e: e["action"].startswith("user."))
    check({"action": "project."}, lambda e: e["action"].startswith("project."))
    check({"outcome": "failed"}, lambda e: e["outcome"] == "failed")
    check({"target": "team-"}, lambda e: (e["target"] or "").startswith("team-"))
    check({"target": "team-b"}, lambda e: e["target"] == "team-b")
    check(
        {"actor": "admin", "action": "member.", "target": "team-a"},
        lambda e: (
            e["actor"] == "admin"
            and e["action"].startswith("member.")
            and e["target"].startswith("team-a")
        ),
    )
    assert audit(client, action="member") == []  # exact unless it ends with "."
    assert audit(client, actor="nobody") == []


def test_since_and_until(client: TestClient) -> None:
    base = 1_700_000_000.0
    insert(client, [entry(base + i, f"p/r{i}") for i in range(10)])
    found = audit(client, since=base + 3, until=base + 7, action="push")
    assert [e["target"] for e in found] == ["p/r6", "p/r5", "p/r4", "p/r3"]  # until excludes
    assert audit(client, since=base + 100, action="push") == []
    assert len(audit(client, until=base + 1, action="push")) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"until": "x"},
        {"before": "abc"},
        {"before": "1.5"},
        {"limit": "0"},
        {"limit": "1001"},
    ],
)
def test_bad_filters_are_refused(client: TestClient, params: dict[str, str]) -> None:
    key = next(iter(params))
    assert_problem(client.get("/api/v1/audit", params=params, auth=ADMIN), 422, key)
    if key != "limit":  # the export has no page size of its own to ask for
        assert_problem(client.get("/api/v1/audit/export", params=params, auth=ADMIN), 422, key)


# --- paging ----------------------------------------------------------------------------------


def test_paging_with_before(client: TestClient) -> None:
    insert(client, [entry(1_700_000_000.0 + i, f"p/r{i}") for i in range(25)])
    expected = [r.id for r in store_audit(client, limit=1000)]
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 7}
    while True:
        page = audit(client, **params)
        if not page:
            break
        assert len(page) <= 7
        seen += [e["id"] for e in page]
        params["before"] = page[-1]["id"]
    assert seen == expected and len(seen) >= 25
    assert audit(client, before=expected[-1]) == []
    assert audit(client, before=0) == []


# --- project-scoped reading ------------------------------------------------------------------


def test_a_maintainer_reads_the_projects_log_only(team: Team) -> None:
    client = team.client
    add_project(client, "team-ab")
    add_project(client, "other")
    grant(client, "team-ab", "developer", user="developer")
    assert push(client, "team-a/app", team["developer"]) == 201
    assert push(client, "team-ab/app", team["developer"]) == 201
    assert push(client, "other/app", ADMIN) == 201
    robot = client.post(
        "/api/v1/projects/team-a/robots",
        json={"name": "ci", "permissions": [{"repositories": "*", "actions": ["pull"]}]},
        auth=ADMIN,
    )
    assert robot.status_code == 201
    response = client.get("/api/v1/audit", params={"project": "team-a"}, auth=team["maintainer"])
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    targets = {e["target"] for e in entries}
    assert "team-a" in targets and "robot$team-a+ci" in targets
    assert any(t.startswith("team-a/app@") for t in targets)
    for target in targets:
        assert target == "team-a" or target.startswith(("team-a/", "team-a@", "robot$team-a+"))
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, reverse=True)
    narrowed = client.get(
        "/api/v1/audit",
        params={"project": "team-a", "target": "team-a/app"},
        auth=team["maintainer"],
    ).json()["entries"]
    assert narrowed and all(e["target"].startswith("team-a/app") for e in narrowed)
    elsewhere = client.get(
        "/api/v1/audit", params={"project": "team-a", "target": "other"}, auth=team["maintainer"]
    ).json()["entries"]
    assert elsewhere == []


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("admin", 200),
        ("project-admin", 200),
        ("maintainer", 200),
        ("developer", 403),
        ("guest", 403),
        ("limited-guest", 403),
        ("stranger", 404),
        ("anonymous", 401),
    ],
)
def test_who_reads_a_projects_log(team: Team, who: str, status: int) -> None:
    for path in ("/api/v1/audit", "/api/v1/audit/export"):
        response = team.client.get(path, params={"project": "team-a"}, auth=team[who])
        if status == 200:
            assert response.status_code == 200
        else:
            assert_problem(response, status)


@pytest.mark.parametrize("who", ["project-admin", "maintainer", "developer", "stranger"])
def test_only_admins_read_the_whole_log(team: Team, who: str) -> None:
    assert_problem(team.client.get("/api/v1/audit", auth=team[who]), 403, "administrator")
    assert_problem(team.client.get("/api/v1/audit/export", auth=team[who]), 403)


def test_a_busy_neighbour_does_not_hide_the_projects_entries(team: Team) -> None:
    """team-ab shares team-a's name as a prefix; its entries are not team-a's, however many."""
    client = team.client
    base = time.time()
    insert(client, [entry(base, "team-a/app@sha256:old")])
    insert(client, [entry(base + 1, f"team-ab/app@{i}") for i in range(1200)])
    scoped = {"project": "team-a", "action": "push"}
    found = client.get("/api/v1/audit", params=scoped, auth=team["maintainer"]).json()["entries"]
    assert [e["target"] for e in found] == ["team-a/app@sha256:old"]
    exported = export(client, auth=team["maintainer"], **scoped)
    assert [e["target"] for e in exported] == ["team-a/app@sha256:old"]


# --- export ----------------------------------------------------------------------------------


def test_export_streams_everything_newest_first(client: TestClient) -> None:
    base = 1_700_000_000.0
    records = [entry(base + i, f"p/r{i}", actor="bot" if i % 3 else "ci") for i in range(1234)]
    insert(client, records)
    everything = export(client)
    assert len(everything) == len(store_audit(client, limit=100_000))
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert everything[0] == audit(client, limit=1)[0]

    ci = export(client, actor="ci", action="push")
    assert len(ci) == len([r for r in records if r.actor == "ci"]) == 412
    assert all(e["actor"] == "ci" and e["action"] == "push" for e in ci)
    assert [e["target"] for e in ci][:2] == ["p/r1233", "p/r1230"]

    window = export(client, since=base + 100, until=base + 700)
    assert len(window) == 600 and window[0]["target"] == "p/r699"
    assert all(base + 100 <= e["at"] < base + 700 for e in window)
    assert export(client, actor="nobody") == []


def test_export_for_a_project(team: Team) -> None:
    client = team.client
    base = time.time()
    insert(client, [entry(base + i, f"team-a/r@{i}") for i in range(600)])
    insert(client, [entry(base + i, f"pub/r@{i}") for i in range(50)])
    lines = export(client, auth=team["maintainer"], project="team-a", action="push")
    assert len(lines) == 600
    assert all(e["target"].startswith("team-a/") for e in lines)
    assert [e["id"] for e in lines] == sorted((e["id"] for e in lines), reverse=True)
