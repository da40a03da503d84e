"""What the registry-management tests share: people with roles, pulls counted, referrers."""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from tests.api.helpers import (
    EMPTY_JSON,
    OCI_EMPTY,
    OCI_MANIFEST,
    descriptor,
    push_blob,
    put_manifest,
    sha256,
)

PASSWORD = "a-long-enough-password"


def add_user(client: TestClient, name: str, project: str | None = None, role: str = "") -> None:
    response = client.post("/api/v1/users", json={"username": name, "password": PASSWORD})
    assert response.status_code == 201, response.text
    if project is not None:
        grant(client, project, name, role)


def grant(client: TestClient, project: str, user: str, role: str, repositories: str = "*") -> None:
    body = {"user": user, "role": role, "repositories": repositories}
    response = client.post(f"/api/v1/projects/{project}/members", json=body)
    assert response.status_code == 201, response.text


def user(name: str) -> tuple[str, str]:
    """`auth=user("dev")` on a request: as that user instead of the admin (`auth=None`:
    anonymous)."""
    return (name, PASSWORD)


def project(client: TestClient, name: str, public: bool = False) -> None:
    response = client.post("/api/v1/projects", json={"name": name, "public": public})
    assert response.status_code == 201, response.text


def flush_pulls(client: TestClient) -> int:
    assert client.portal is not None
    return int(client.portal.call(client.app.state.usage.flush))  # type: ignore[attr-defined]


def push_referrer(client: TestClient, repo: str, subject: bytes, artifact_type: str) -> str:
    """An OCI artifact whose subject is `subject` (a signature, an SBOM...); returns its digest."""
    payload = json.dumps({"type": artifact_type}).encode()
    push_blob(client, repo, EMPTY_JSON)
    push_blob(client, repo, payload)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(OCI_EMPTY, EMPTY_JSON),
        "layers": [descriptor("application/octet-stream", payload)],
        "subject": descriptor(OCI_MANIFEST, subject),
    }
    body = json.dumps(doc).encode()
    response = put_manifest(client, repo, sha256(body), body, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    return sha256(body)


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body
