"""What the management API tests share: a registry on the embedded shape, people in every role
of one project, and the checks a user of the API would make (problem+json, push, pull)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.meta.auth_records import AuditQuery, AuditRecord
from dockyard.settings import Settings
from tests.api.helpers import OCI_MANIFEST, image_manifest, sha256
from tests.conftest import ADMIN

BASE_URL = "http://registry.test"
Creds = tuple[str, str] | None

# Every role of the README's table, plus someone with no grant at all, in project team-a.
ROLES = ("project-admin", "maintainer", "developer", "guest", "limited-guest")


def password_of(name: str) -> str:
    return f"{name}-password-1"


def assert_problem(response: httpx.Response, status: int, detail: str | None = None) -> str:
    """An RFC 9457 problem with this status and a detail a person can act on; returns it."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), (
        response.headers["content-type"],
        response.text,
    )
    body = response.json()
    assert isinstance(body.get("type"), str) and body["type"], body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert body.get("status") == status, body
    assert isinstance(body.get("detail"), str) and len(body["detail"]) > 5, body
    if detail is not None:
        assert detail.lower() in body["detail"].lower(), body
    return str(body["detail"])


@contextmanager
def registry(tmp_path: Path, **auth: Any) -> Iterator[TestClient]:
    """A registry on the embedded shape (filesystem + SQLite); the client sends no credentials
    unless a call passes `auth=`."""
    settings = Settings(data_dir=tmp_path, auth=auth) if auth else Settings(data_dir=tmp_path)
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        yield client


def add_user(client: TestClient, name: str, *, admin: bool = False, **extra: Any) -> Creds:
    body = {"username": name, "password": password_of(name), "admin": admin, **extra}
    response = client.post("/api/v1/users", json=body, auth=ADMIN)
    assert response.status_code == 201, response.text
    return (name, password_of(name))


def add_project(client: TestClient, name: str, public: bool = False) -> dict[str, Any]:
    response = client.post("/api/v1/projects", json={"name": name, "public": public}, auth=ADMIN)
    assert response.status_code == 201, response.text
    return dict(response.json())


def grant(
    client: TestClient,
    project: str,
    role: str,
    *,
    user: str | None = None,
    group: str | None = None,
    repositories: str = "*",
    auth: Creds = ADMIN,
) -> dict[str, Any]:
    body: dict[str, Any] = {"role": role, "repositories": repositories}
    body.update({"user": user} if user else {"group": group})
    response = client.post(f"/api/v1/projects/{project}/members", json=body, auth=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


@dataclass
class Team:
    """Project team-a (private) with one person per role, someone with no grant, and pub
    (public)."""

    client: TestClient
    people: dict[str, Creds]

    def __getitem__(self, who: str) -> Creds:
        return self.people[who]


def make_team(client: TestClient) -> Team:
    add_project(client, "team-a")
    add_project(client, "pub", public=True)
    people: dict[str, Creds] = {"admin": ADMIN, "anonymous": None}
    for role in ROLES:
        people[role] = add_user(client, role)
        grant(client, "team-a", role, user=role)
    people["stranger"] = add_user(client, "stranger")
    return Team(client, people)


# --- the registry, as docker would use it ----------------------------------------------------


def push(client: TestClient, repo: str, auth: Creds, tag: str = "v1", seed: str = "x") -> int:
    """Push a small image; the status of the first step that did not succeed, or 201."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = f"layer of {seed}".encode() * 10
    for blob in (config, layer):
        response = client.post(
            f"/v2/{repo}/blobs/uploads/?digest={sha256(blob)}", content=blob, auth=auth
        )
        if response.status_code != 201:
            return response.status_code
    body = image_manifest(config, [layer])
    response = client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
        auth=auth,
    )
    return response.status_code


def pull(client: TestClient, repo: str, auth: Creds, tag: str = "v1") -> int:
    response = client.get(
        f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}, auth=auth
    )
    return response.status_code


def token_status(client: TestClient, auth: Creds, scope: str = "repository:pub/x:pull") -> int:
    """What /token answers these credentials (docker login does exactly this)."""
    params = {"service": "dockyard", "scope": scope}
    return client.get("/token", params=params, auth=auth).status_code


def store_audit(client: TestClient, **query: Any) -> list[AuditRecord]:
    """The audit log read straight from the store, to check the API against."""
    store = client.app.state.registry.store  # type: ignore[attr-defined]

    async def read() -> list[AuditRecord]:
        async with store.transaction(readonly=True) as tx:
            return await tx.audit.query(AuditQuery(**query))

    assert client.portal is not None
    return list(client.portal.call(read))


def audit(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit", params=params, auth=ADMIN)
    assert response.status_code == 200, response.text
    return list(response.json()["entries"])
