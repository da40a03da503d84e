"""`dockyard migrate --to scale.yaml` moves an embedded registry to S3 + PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from starlette.testclient import TestClient
from typer.testing import CliRunner

from dockyard.app import create_app
from dockyard.cli.main import app as cli
from dockyard.settings import Settings
from dockyard.testing.seaweedfs import S3Server
from tests.conftest import ADMIN, PG_URL, admin_client, s3_settings


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_image(client: TestClient, repo: str, tag: str, layer: bytes) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    for blob in (config, layer):
        client.post(f"/v2/{repo}/blobs/uploads/?digest={sha256(blob)}", content=blob)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    put = client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert put.status_code == 201, put.text
    return sha256(manifest)


def test_migrate_copies_everything_verified_and_resumes(
    tmp_path: Path, s3_server: S3Server, pg_schema: str
) -> None:
    embedded = Settings(data_dir=tmp_path / "embedded")
    shared_layer = b"shared layer " * 50_000
    with admin_client(create_app(embedded)) as client:
        one = push_image(client, "team/api", "v1", shared_layer)
        two = push_image(client, "team/web", "latest", shared_layer)
    target = {
        "storage": s3_settings(s3_server),
        "database": {"url": PG_URL, "schema_name": pg_schema},
    }
    scale = tmp_path / "scale.yaml"
    scale.write_text(yaml.safe_dump(target))
    runner = CliRunner()
    args = ["migrate", "--data-dir", str(embedded.data_dir), "--to", str(scale)]

    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "blobs copied (digest verified)" in first.output

    moved = Settings(data_dir=tmp_path / "unused", **target)
    with admin_client(create_app(moved)) as client:
        for repo, tag, digest in (("team/api", "v1", one), ("team/web", "latest", two)):
            manifest = client.get(f"/v2/{repo}/manifests/{tag}")
            assert manifest.status_code == 200
            assert manifest.headers["docker-content-digest"] == digest
            layer = client.get(f"/v2/{repo}/blobs/{sha256(shared_layer)}")
            assert layer.content == shared_layer
        assert client.get("/v2/_catalog").json() == {"repositories": ["team/api", "team/web"]}

    # The embedded registry kept working; a second run brings over only what is new.
    with admin_client(create_app(embedded)) as client:
        three = push_image(client, "team/api", "v2", b"new layer" * 1000)
    second = runner.invoke(cli, args)
    assert second.exit_code == 0, second.output
    with admin_client(create_app(moved)) as client:
        assert client.get("/v2/team/api/tags/list").json()["tags"] == ["v1", "v2"]
        got = client.get("/v2/team/api/manifests/v2")
        assert got.headers["docker-content-digest"] == three


def test_migrate_reports_a_corrupt_blob_and_fails(
    tmp_path: Path, s3_server: S3Server, pg_schema: str
) -> None:
    embedded = Settings(data_dir=tmp_path / "embedded")
    with admin_client(create_app(embedded)) as client:
        push_image(client, "team/api", "v1", b"soon corrupted" * 100)
    for path in (embedded.data_dir / "storage" / "blobs").rglob("data"):
        if path.read_bytes().startswith(b"soon corrupted"):
            path.write_bytes(b"bit rot")
    scale = tmp_path / "scale.yaml"
    scale.write_text(
        yaml.safe_dump(
            {
                "storage": s3_settings(s3_server),
                "database": {"url": PG_URL, "schema_name": pg_schema},
            }
        )
    )
    result = CliRunner().invoke(
        cli, ["migrate", "--data-dir", str(embedded.data_dir), "--to", str(scale)]
    )
    assert result.exit_code == 1
    assert f"failed: {sha256(b'soon corrupted' * 100)}" in result.output


def migrate_to_postgresql(embedded: Settings, tmp_path: Path, pg_schema: str) -> Settings:
    """`dockyard migrate` into PostgreSQL (and blobs on the filesystem); the target's settings."""
    target = {
        "storage": {"root": str(tmp_path / "target-blobs")},
        "database": {"url": PG_URL, "schema_name": pg_schema},
    }
    scale = tmp_path / "scale.yaml"
    scale.write_text(yaml.safe_dump(target))
    args = ["migrate", "--data-dir", str(embedded.data_dir), "--to", str(scale)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return Settings(data_dir=tmp_path / "unused", **target)


def audit_entries(client: TestClient) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = client.get("/api/v1/audit?limit=1000").json()["entries"]
    return entries


def test_migrate_carries_users_rights_and_audit_and_ids_keep_counting(
    tmp_path: Path, pg_schema: str
) -> None:
    embedded = Settings(data_dir=tmp_path / "embedded")
    alice, admin = ("alice", "alice-password-1"), ("admin", "changed-before-the-move")
    with admin_client(create_app(embedded)) as client:
        for path, payload in (
            ("/api/v1/users", {"username": "alice", "password": alice[1]}),
            ("/api/v1/projects", {"name": "team"}),
            ("/api/v1/projects/team/members", {"user": "alice", "role": "developer"}),
        ):
            assert client.post(path, json=payload).status_code == 201, path
        client.auth = alice
        pushed = push_image(client, "team/app", "v1", b"alice's layer")
        pat = client.post("/api/v1/me/tokens", json={"name": "ci"}).json()["token"]
        client.auth = ADMIN
        changed = client.put("/api/v1/users/admin/password", json={"password": admin[1]})
        assert changed.status_code == 204, changed.text
        client.auth = admin
        before = audit_entries(client)
        grants = client.get("/api/v1/projects/team/members").json()["members"]
    assert {e["action"] for e in before} >= {"user.create", "project.create", "push"}

    moved = migrate_to_postgresql(embedded, tmp_path, pg_schema)
    with admin_client(create_app(moved)) as client:
        assert client.get("/v2/").status_code == 401  # the bootstrap password is gone
        client.auth = admin  # the admin as migrated
        assert client.get("/v2/").status_code == 200
        for credentials in (alice, ("alice", pat)):  # rights and tokens came along
            got = client.get("/v2/team/app/manifests/v1", auth=credentials)
            assert got.headers["docker-content-digest"] == pushed
        # New rows take ids after the copied ones instead of colliding with them.
        new_user = {"username": "bob", "password": "bob-password-12"}
        assert client.post("/api/v1/users", json=new_user).status_code == 201
        grant = client.post("/api/v1/projects/team/members", json={"user": "bob", "role": "guest"})
        assert grant.status_code == 201, grant.text
        assert grant.json()["id"] > max(g["id"] for g in grants)
        after = audit_entries(client)
    assert after[-len(before) :] == before  # the old entries, ids and all, under the new ones
    assert min(e["id"] for e in after[: -len(before)]) > before[0]["id"]
    assert ("user.create", "bob") in {(e["action"], e["target"]) for e in after}


def test_a_second_migrate_brings_users_made_on_both_sides_meanwhile(
    tmp_path: Path, pg_schema: str
) -> None:
    """The source keeps serving after a first run, and the target is tried out: both hand out
    the next user id. The second run must neither lose the source's user nor give their
    groups or tokens to the target's."""
    embedded = Settings(data_dir=tmp_path / "embedded")
    with admin_client(create_app(embedded)) as client:
        assert client.get("/v2/").status_code == 200
    moved = migrate_to_postgresql(embedded, tmp_path, pg_schema)
    people = {"dave": (embedded, "dave-password-1"), "tester": (moved, "tester-password")}
    for name, (settings, password) in people.items():
        with admin_client(create_app(settings)) as client:
            new = {"username": name, "password": password}
            assert client.post("/api/v1/users", json=new).status_code == 201
            assert client.post("/api/v1/groups", json={"name": f"{name}s"}).status_code == 201
            assert client.put(f"/api/v1/groups/{name}s/members/{name}").status_code == 204
    migrate_to_postgresql(embedded, tmp_path, pg_schema)
    with admin_client(create_app(moved)) as client:
        for name, (_settings, password) in people.items():
            me = client.get("/api/v1/me", auth=(name, password))
            assert me.status_code == 200, me.text
            assert me.json()["groups"] == [f"{name}s"]
        created = {e["target"] for e in audit_entries(client) if e["action"] == "user.create"}
    assert created == {"dave", "tester"}
